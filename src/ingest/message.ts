import type { ParsedTopic } from "../../devices/index.js";
import type { Message } from "../platform/i18n.js";

/**
 * What every transport turns a device's publish into. Nothing past the source knows whether
 * the embedded broker or an external one delivered it.
 */
export type InboundMessage = {
  topic: string;
  payload: Buffer;
  receivedAt: number;
  clientId: string | null;
  /** The device id the transport authenticated (embedded broker); null when the broker is external. */
  authenticatedAs: string | null;
  /** `parseTopic(topic)`, when the transport has already parsed it (the embedded broker does, for the retain rule). */
  parsedTopic?: ParsedTopic;
};

/** Called once with the verdict, or with the error that kept the message from being recorded (then it is not acknowledged). */
export type VerdictCallback = (error: unknown, verdict?: Verdict) => void;

export type Verdict =
  /** Durably recorded as a reading: acknowledge. */
  | { outcome: "accepted"; seq: number }
  /** Durably recorded as a rejected message, kept for inspection: acknowledge, do not store as a reading. */
  | { outcome: "rejected"; seq: number; reason: string; detail: Message }
  /** Not the device's to publish, or the device is flooding: do not acknowledge; the embedded broker disconnects it. */
  | { outcome: "refused"; reason: "not_own_topic" | "throttled" | "spool_full" };
