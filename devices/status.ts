import { z } from "zod";
import { TimestampSchema } from "./time.js";

/** `{family}/{id}/status`, retained, and also the device's last will with `online: false`. */
export const StatusSchema = z.object({
  online: z.boolean(),
  fw: z.string().min(1).max(64).optional(),
  ts: TimestampSchema.optional(),
  /** From v1.1: the device's own clock when it sent this (epoch ms); the service syncs a light whose clock drifts. */
  clock: z
    .number()
    .int()
    .min(0)
    .max(Date.UTC(2100, 0, 1))
    .optional(),
});
export type Status = z.infer<typeof StatusSchema>;
