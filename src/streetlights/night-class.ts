/** How a light's night is classed (the nightly record and its words both use them). */
export const NIGHT_CLASSES = ["lit", "partial", "dark", "energy_limited", "cycling", "offline"] as const;
export type NightClass = (typeof NIGHT_CLASSES)[number];
