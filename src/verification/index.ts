/**
 * The verification feature's interface for other features: its report as a job runs it in a worker thread (another
 * feature's job, the field-visit report, makes the data verdicts in its own thread with it: a job asking the service's
 * thread to run a second job could wait for ever on a pool of one thread), the handlers that job asks the service's
 * thread, and the words its verdicts are said in.
 */
export { type ReportHost, report as verificationReport, type VerificationJobs } from "./jobs.js";
export { VERIFICATION_WORDS } from "./messages.js";
export type { ReportParams } from "./service.js";
export type { VerifySettings } from "./verdict.js";
