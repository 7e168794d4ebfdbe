import { z } from "zod";
import { TimestampSchema } from "./time.js";

/** `{family}/{id}/status`, retained, and also the device's last will with `online: false`. */
export const StatusSchema = z.object({
  online: z.boolean(),
  fw: z.string().min(1).max(64).optional(),
  ts: TimestampSchema.optional(),
});
export type Status = z.infer<typeof StatusSchema>;
