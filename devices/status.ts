import { z } from "zod";
import { TimestampSchema } from "./time.js";

/** `{family}/{id}/status`, retained, and also the device's last will with `online: false`. */
/** A device's own clock when it sent a message (epoch ms; v1.1): the service syncs a light whose clock drifts. */
export const DeviceClockSchema = z
  .number()
  .int()
  .min(0)
  .max(Date.UTC(2100, 0, 1));

export const StatusSchema = z.object({
  online: z.boolean(),
  fw: z.string().min(1).max(64).optional(),
  ts: TimestampSchema.optional(),
  /** From v1.1: the device's own clock when it sent this (epoch ms); the service syncs a light whose clock drifts. */
  clock: DeviceClockSchema.optional(),
});
export type Status = z.infer<typeof StatusSchema>;
