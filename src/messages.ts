import { ACCESS_WORDS } from "./access/messages.js";
import { ALERT_WORDS } from "./alerts/messages.js";
import { BLENDING_WORDS } from "./blending/messages.js";
import { CONTROL_WORDS } from "./control/messages.js";
import { FIELDWORK_WORDS } from "./fieldwork/messages.js";
import { HTTP_WORDS } from "./http/errors.js";
import { INGEST_WORDS } from "./ingest/messages.js";
import { CONFIG_WORDS } from "./platform/config-messages.js";
import { ERROR_WORDS } from "./platform/errors.js";
import { type Catalogue, createCatalogue, LEGACY_WORDS } from "./platform/i18n.js";
import { ISSUE_WORDS } from "./platform/validation.js";
import { REGISTRY_WORDS } from "./registry/messages.js";
import { STREETLIGHT_WORDS } from "./streetlights/messages.js";
import { SYSTEM_WORDS } from "./system/messages.js";
import { VERIFICATION_WORDS } from "./verification/messages.js";

/**
 * Part of the composition root: the vocabularies that exist, each owned by its feature, combined into the one
 * catalogue that everyone who renders text is handed (HTTP errors and responses, notifier, digest, exports).
 */
export const VOCABULARIES = {
  legacy: LEGACY_WORDS,
  errors: ERROR_WORDS,
  issues: ISSUE_WORDS,
  http: HTTP_WORDS,
  access: ACCESS_WORDS,
  ingest: INGEST_WORDS,
  registry: REGISTRY_WORDS,
  streetlights: STREETLIGHT_WORDS,
  control: CONTROL_WORDS,
  blending: BLENDING_WORDS,
  verification: VERIFICATION_WORDS,
  alerts: ALERT_WORDS,
  fieldwork: FIELDWORK_WORDS,
  system: SYSTEM_WORDS,
  config: CONFIG_WORDS,
} as const;

export function createMessages(): Catalogue {
  return createCatalogue(VOCABULARIES);
}
