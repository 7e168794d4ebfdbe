import { z } from "zod";

/** PROTOCOL.md: 1–64 characters of A-Z a-z 0-9 _ - */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const DeviceIdSchema = z.string().regex(DEVICE_ID_PATTERN, "hint_device_id").brand<"DeviceId">();
export type DeviceId = z.infer<typeof DeviceIdSchema>;

export const FAMILIES = ["streetlight", "blender"] as const;
export const FamilySchema = z.enum(FAMILIES);
export type Family = z.infer<typeof FamilySchema>;

export function isDeviceId(value: string): value is DeviceId {
  return DEVICE_ID_PATTERN.test(value);
}
