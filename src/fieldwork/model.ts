import type { Message } from "../platform/i18n.js";
import type { Done, Found, Severity, WorkState } from "./rules.js";

/** A work order and its parts, as the store keeps them (times: epoch ms). */
export type Position = { lat: number; lon: number; accuracyM?: number | undefined };
export type Change = {
  /** When it happened (the phone's time for an entry made offline), and when the service heard of it. */
  at: number;
  receivedAt: number;
  who: string;
  action: WorkState | "created" | "checked_in" | "photo" | "reopened";
  /** Where the phone was, when it said. */
  lat: number | null;
  lon: number | null;
  /** What a person wrote (a reason, an assignee). */
  text?: string | undefined;
  /** What the service said (a check-in's distance, the light's proof or its absence). */
  message?: Message | undefined;
};
export type CheckIn = {
  at: number;
  who: string;
  lat: number;
  lon: number;
  accuracyM: number | null;
  poleId: string | null;
  distanceM: number | null;
  flagged: boolean;
};
export type PhotoMeta = {
  id: string;
  orderId: string;
  mediaType: "image/jpeg" | "image/png";
  bytes: number;
  at: number;
  who: string;
  takenAt: number | null;
  gps: { lat: number; lon: number } | null;
};
export type LightProof = {
  /** Readings newer than this (the light's newest reading when the order was marked done) are judged. */
  after: number;
  state: "pending" | "proven" | "failed";
  /** Failing readings in a row, and the latest of them (the evidence). */
  bad: number;
  last: { ts: number; condition: string; detail: Message | null } | null;
  provenAt: number | null;
};
export type WorkOrder = {
  id: string;
  town: string;
  lights: { id: string; village: string | null; lat: number | null; lon: number | null }[];
  alertIds: string[];
  /** The alerts' types (what the repair must prove), or `manual` for an order made for lights without alerts. */
  types: string[];
  problem: string | null;
  priority: Severity;
  dueAt: number;
  assignee: string | null;
  state: WorkState;
  reason: string | null;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  closedAt: number | null;
  /** How many times the order came back after a repair the light did not prove (0: fixed the first time). */
  reopened: number;
  checkIns: CheckIn[];
  record: { found: Found[]; done: Done[]; parts: { name: string; qty: number }[]; notes: string | null } | null;
  photos: PhotoMeta[];
  proof: { since: number; lights: Record<string, LightProof> } | null;
  history: Change[];
};
