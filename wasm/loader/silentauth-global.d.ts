/**
 * The script tag's global: `<script src="/silentauth/silentauth.js">` defines
 * `silentauth` with createClient and stats. Pages that load the script and
 * type-check their code opt in with
 *
 *     /// <reference types="silentauth/global" />
 *
 * or `import type {} from "silentauth/global"`. The module's own types
 * (`import … from "silentauth"`) declare no global.
 */
import type { SilentAuth } from "./silentauth.js";

declare global {
  /** silentauth.js's global: the same createClient and stats as the module. */
  var silentauth: SilentAuth;
}

export {};
