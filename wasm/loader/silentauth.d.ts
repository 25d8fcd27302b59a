/**
 * silentauth: silent token renewal for single-page apps. OpenID Connect
 * `prompt=none` in a hidden iframe with `response_mode=web_message`, written in
 * Go and compiled to WebAssembly.
 *
 * These are the types of the ES module (`import { createClient } from "silentauth"`).
 * The script tag's global `silentauth` is typed by `silentauth/global`
 * (dist/silentauth-global.d.ts), kept apart so that module users do not see a
 * global that their page never defines.
 */

/** The response types silentauth supports. Space-separated values may come in any order. */
export type ResponseType = "code" | "id_token token" | "token id_token" | "id_token" | "token";

/** Options shared by both spellings of the client id. */
export interface BaseClientOptions {
  /**
   * The authorization server's base URL, e.g. `"https://login.example.com"`.
   * `https://` is assumed when no scheme is given.
   */
  domain: string;
  /**
   * Where the server's answer is sent. Must be on the page's origin, else
   * `createClient` fails at once with `origin_mismatch`.
   * @default location.origin
   */
  redirectUri?: string;
  /**
   * `"code"` uses PKCE (S256) and then the token endpoint; the implicit types
   * return tokens in the message itself.
   * @default "code"
   */
  responseType?: ResponseType;
  /** @default "openid profile email" */
  scope?: string;
  /** Sent as `audience` when set (the API the access token is for). */
  audience?: string;
  /**
   * A silent request with no valid answer by then fails with `timeout`.
   * @default 60
   */
  timeoutInSeconds?: number;
  /**
   * Clock skew allowed on `exp`, `iat`, `nbf` and `auth_time`; 0 to 300.
   * @default 60
   */
  leewayInSeconds?: number;
  /**
   * Renew before expiry once a session is known.
   * @default true
   */
  autoRenew?: boolean;
  /**
   * How early renewal starts; never earlier than halfway through a token's life.
   * @default 60
   */
  renewBeforeExpiryInSeconds?: number;
  /**
   * `getTokenSilently` answers from the cache, without waiting, while the
   * access token stays valid at least this long (plus one second, since
   * `expires_in` counts whole seconds from an issue time servers round down).
   * @default 5
   */
  minValidityInSeconds?: number;
  /** The ID token's expected `iss`. Default: from discovery, else `${domain}/`. */
  issuer?: string;
  /** Default: from discovery, else `${domain}/authorize`. */
  authorizationEndpoint?: string;
  /** Default: from discovery, else `${domain}/oauth/token`. */
  tokenEndpoint?: string;
  /** Default: from discovery, else `${domain}/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Where `logout` goes. Default: discovery's `end_session_endpoint`, else `${domain}/v2/logout`. */
  endSessionEndpoint?: string;
  /**
   * Poll `checkSession` this often to notice a session that ended at the
   * server before the token expires; 0 is off. Under 60 s works but warns,
   * since servers rate-limit `/authorize`.
   * @default 0
   */
  sessionCheckIntervalInSeconds?: number;
  /**
   * The origins `client.fetch` may send the access token to, each a bare
   * origin such as `"https://api.example.com"` (`https://`, or `http://` on
   * localhost, 127.0.0.1 or [::1]). A `client.fetch` to any other origin
   * rejects with `invalid_configuration` and sends nothing.
   * @default [location.origin]
   */
  apiOrigins?: string[];
  /**
   * Ask for `offline_access` and renew with the rotating refresh token from
   * the code exchange (`refresh_token` grant) instead of the iframe: what
   * keeps users signed in where third-party cookies are blocked. Needs
   * `responseType: "code"`. One refresh token serves the whole tab group.
   * @default false
   */
  useRefreshTokens?: boolean;
  /**
   * With `useRefreshTokens`, fall back to the silent iframe when no refresh
   * token is held or the grant answers `invalid_grant`. Off: those end the
   * session with `missing_refresh_token` / `invalid_grant`.
   * @default true
   */
  useRefreshTokensFallback?: boolean;
  /**
   * Where the refresh token lives besides the Go runtime: `"memory"` (gone
   * with the last tab of the group) or `"local"` (also in `localStorage`,
   * AES-GCM encrypted under a non-extractable key kept in IndexedDB).
   * @default "memory"
   */
  refreshTokenStorage?: "memory" | "local";
  /**
   * Bind the tokens to a key that cannot leave this browser (DPoP, RFC 9449):
   * an ES256 key pair with a non-extractable private key in IndexedDB, one
   * per origin and client configuration; `dpop_jkt` on every authorization
   * request, a proof on every token request and on `fetch`/`getAuthHeaders`
   * for `apiOrigins`, server nonces kept per server with one retry on
   * `use_dpop_nonce`. Needs `responseType: "code"`.
   * @default false
   */
  useDpop?: boolean;
  /**
   * Where this browser has no record of a sign-in with this configuration
   * (a non-secret marker in `localStorage`, set at each login and renewal,
   * removed at logout and at the end of the session), `checkSession`
   * answers `login_required` at once, asking the server nothing and
   * without loading the Go runtime, and the loader sends nothing ahead.
   * `getTokenSilently` still asks the server (a session from another app of
   * the same server). `false`: `checkSession` always asks.
   * @default true
   */
  assumeSignedOut?: boolean;
  /**
   * Log each decision to `console.debug`: messages ignored and why, renewals
   * scheduled, retries, fast failures.
   * @default false
   */
  debug?: boolean;
  /**
   * Where silentauth.wasm is served. Default: next to silentauth.js (script
   * tag) or `new URL("./silentauth.wasm", import.meta.url)` (module).
   */
  wasmUrl?: string;
  /**
   * Where the Go engine runs: `"page"` (in this page, one per tab),
   * `"shared-worker"` (one engine in a SharedWorker for every tab of the
   * origin, served from silentauth-worker.js next to the loader), or
   * `"auto"`: the SharedWorker where the browser has one and it starts,
   * else the page.
   * @default "auto"
   */
  engine?: "auto" | "shared-worker" | "page";
}

/**
 * createClient's options. Unknown options are an `invalid_configuration`
 * error at run time, and an excess-property error here.
 */
export type ClientOptions = BaseClientOptions &
  (
    | {
        /** The application's client id at the authorization server. */
        clientId: string;
        /** auth0.js's spelling of `clientId`; if both are given they must agree. */
        clientID?: string;
      }
    | {
        /** The application's client id at the authorization server. */
        clientId?: string;
        /** auth0.js's spelling of `clientId`. */
        clientID: string;
      }
  );

/** A value silentauth passes through to `/authorize` as it is. */
export type AuthorizeParamValue = string | number | boolean;

/**
 * A name `AuthorizeParams` passes through to `/authorize`: any name without
 * an upper-case letter, as authorize parameters are spelled on the wire
 * (`login_hint`, `ext-foo`). A camelCase name that is not one of the options
 * below (`loginHint`, `maxAge`) is a compile error, not a parameter the
 * server silently ignores.
 */
export type AuthorizeParamName = Lowercase<string>;

/**
 * Per-call parameters of checkSession, getTokenSilently, loginWithRedirect and loginWithPopup.
 * The camelCase fields override the client's options for this call; the
 * snake_case ones are authorize parameters, and any other lower-case name is
 * passed through to `/authorize` as it is.
 */
export interface AuthorizeParams {
  /** Overrides the client's `responseType` for this call. */
  responseType?: ResponseType;
  /** Overrides the client's `scope` for this call. */
  scope?: string;
  /** Overrides the client's `audience` for this call. */
  audience?: string;
  /** Overrides the client's `timeoutInSeconds` for this call (loginWithPopup: 300 by default). */
  timeoutInSeconds?: number;
  /** The user's login name or email, to prefill or pick the account. */
  login_hint?: string;
  /** An organization id or name (Auth0 Organizations). */
  organization?: string;
  /** An organization invitation ticket (Auth0). */
  invitation?: string;
  /** The identity provider connection to use (Auth0). */
  connection?: string;
  /** Seconds; the ID token's `auth_time` is then checked against it. */
  max_age?: number | string;
  /** Space-separated BCP 47 language tags for the server's pages. */
  ui_locales?: string;
  /** Space-separated authentication context class references. */
  acr_values?: string;
  /** A previously issued ID token, as a hint of the session to use. */
  id_token_hint?: string;
  /** Auth0's page to show first: `"signup"` or `"login"`. */
  screen_hint?: string;
  /** checkSession always sends `"none"`; loginWithRedirect sends what is given. */
  prompt?: "none" | "login" | "consent" | "select_account" | (string & {});
  // Set by silentauth on every request; a call cannot override them.
  client_id?: never;
  redirect_uri?: never;
  response_type?: never;
  response_mode?: never;
  state?: never;
  nonce?: never;
  code_challenge?: never;
  code_challenge_method?: never;
  /** Any other authorize parameter, by its wire name, passed through. */
  [param: AuthorizeParamName]: AuthorizeParamValue | undefined;
}

/** logout's parameters. Other fields are passed to the end-session endpoint. */
export interface LogoutParams {
  /** Where the server sends the browser after logging out (Auth0's `returnTo`, OIDC's `post_logout_redirect_uri`). */
  returnTo?: string;
  /** Forget the tokens without navigating to the server. */
  localOnly?: boolean;
  /** Any other end-session parameter, passed through. */
  [param: string]: AuthorizeParamValue | undefined;
}

/** ID token claims, as validated. */
export interface IdTokenClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  iat?: number;
  nbf?: number;
  auth_time?: number;
  nonce?: string;
  azp?: string;
  sid?: string;
  name?: string;
  nickname?: string;
  picture?: string;
  email?: string;
  email_verified?: boolean;
  updated_at?: string;
  [claim: string]: unknown;
}

/** What getAuthHeaders resolves with. */
export interface AuthHeaders {
  /** `Bearer <access token>`, or `DPoP <access token>` for a DPoP-bound token. */
  Authorization: string;
  /** The proof, with a DPoP-bound token only. */
  DPoP?: string;
}

/** The user getUser returns: the last validated ID token's claims. */
export type User = IdTokenClaims;

/**
 * A successful answer. Fields the response type does not produce are absent,
 * never empty strings: `"id_token"` has no `accessToken`, `"token"` no `idToken`.
 */
export interface AuthResult {
  accessToken?: string;
  idToken?: string;
  /** Present with `idToken`. */
  idTokenPayload?: IdTokenClaims;
  /** Seconds, as the server sent `expires_in`. */
  expiresIn?: number;
  /** Epoch milliseconds on the local clock: `Date.now() + expiresIn * 1000` at receipt. */
  expiresAt?: number;
  /** `"DPoP"` or `"Bearer"`, as the server issued the access token. */
  tokenType?: "DPoP" | "Bearer";
  scope?: string;
  state?: string;
}

/**
 * The `error` codes silentauth produces, the `prompt=none` errors every server
 * sends, and (the open end) any other code a server returns, passed through.
 */
export type ErrorCode =
  | "login_required"
  | "consent_required"
  | "interaction_required"
  | "account_selection_required"
  /** No valid answer within `timeoutInSeconds`. */
  | "timeout"
  /** The ID token failed validation; the description names the check. */
  | "invalid_token"
  /** handleRedirectCallback: a `state` unknown or already used. */
  | "invalid_state"
  /** `redirectUri` is not on the page's origin. */
  | "origin_mismatch"
  /** Bad or unknown options, unreachable discovery, no `web_message` support. */
  | "invalid_configuration"
  /**
   * A request got no HTTP answer at all (offline, DNS, CORS); also
   * `client.fetch` to an API that could not be reached or refused CORS.
   */
  | "network_error"
  /** A token or discovery endpoint answered with something unusable. */
  | "server_error"
  /** `useRefreshTokens` without fallback, and no refresh token in this tab or its group. */
  | "missing_refresh_token"
  /** The token endpoint refused the refresh token (expired, revoked, reused). */
  | "invalid_grant"
  /** loginWithPopup: the browser refused to open the window (no user gesture, or blocked). */
  | "popup_blocked"
  /** loginWithPopup: the window closed before the server answered. */
  | "popup_closed"
  /** A call on a client after `destroy()`. */
  | "destroyed"
  /** Anything else that went wrong; `cause` holds the original. */
  | "unexpected_error"
  | (string & {});

/**
 * Every failure: an `Error` with OAuth-style `error` and `error_description`.
 * Both the module and the script tag's global export the class; use
 * `isSilentAuthError` to narrow a caught `unknown` (it also knows errors made
 * by another copy of the loader on the page, where `instanceof` would not).
 */
export declare class SilentAuthError extends Error {
  constructor(error: ErrorCode, description?: string, state?: string, cause?: unknown);
  /** `"SilentAuthError"`. */
  name: string;
  /** The OAuth-style code; see ErrorCode and docs/API.md. */
  error: ErrorCode;
  /** What happened, in words: what was expected and what arrived. */
  error_description: string;
  /** The `state` of the request that failed, when one was sent. */
  state?: string;
  /**
   * While a renewal backoff runs: the whole seconds until the next attempt.
   * Until then a call without a valid token gets this error at once, and no
   * request is sent.
   */
  retryAfter?: number;
  /** The original failure, when there was one (a browser error, a masked timeout). */
  cause?: unknown;
}

/** True for every error silentauth rejects with or emits. */
export function isSilentAuthError(e: unknown): e is SilentAuthError;

/** checkSession's auth0.js-style callback. */
export type CheckSessionCallback = (err: SilentAuthError | null, result?: AuthResult) => void;

/** The events a client emits and their payloads. */
export interface SilentAuthEventMap {
  /** Every successful silent renewal, by the timer or by a call. */
  renewed: AuthResult;
  /** A renewal failed and will be retried. */
  renew_error: SilentAuthError;
  /**
   * `login_required`, `consent_required`, `interaction_required` or
   * `account_selection_required` from a renewal or a poll, `invalid_grant`
   * or `missing_refresh_token` from a refresh-token renewal without
   * fallback, a logout in another tab, or a renewal for another user: the
   * user must log in interactively; auto-renew and polling stop.
   */
  session_ended: SilentAuthError;
}

export type SilentAuthEvent = keyof SilentAuthEventMap;

export type SilentAuthEventHandler<K extends SilentAuthEvent> = (payload: SilentAuthEventMap[K]) => void;

/** One application's client. */
export interface Client {
  /**
   * Asks the server for fresh tokens in a hidden iframe with `prompt=none`
   * and `response_mode=web_message`. Concurrent calls with the same
   * parameters share one iframe and one result.
   */
  checkSession(params?: AuthorizeParams): Promise<AuthResult>;
  /** auth0.js style: the callback gets `(err, result)`; nothing is returned. */
  checkSession(params: AuthorizeParams | undefined, callback: CheckSessionCallback): void;
  checkSession(callback: CheckSessionCallback): void;

  /**
   * The cached access token at once while it stays valid for
   * `minValidityInSeconds`; inside the renewal window it also starts (or
   * joins) the one shared renewal in the background. Waits only when no
   * cached token is valid long enough.
   */
  getTokenSilently(params?: AuthorizeParams): Promise<string>;

  /** The last validated ID token's claims, or null. */
  getUser(): User | null;

  /** Navigates to `/authorize` without `prompt=none`; the page is left. */
  loginWithRedirect(params?: AuthorizeParams): Promise<void>;

  /**
   * The interactive login in a popup window, answered by `web_message` and
   * checked as checkSession's answer is. Call it directly from a click
   * handler (else `popup_blocked`); `popup_closed` when the user closes it;
   * `timeout` after `params.timeoutInSeconds`, 300 s by default.
   */
  loginWithPopup(params?: AuthorizeParams): Promise<AuthResult>;

  /**
   * Validates an interactive login's response as checkSession does, clears
   * the stored transaction and removes the response from the address bar.
   * @param url defaults to `location.href`
   */
  handleRedirectCallback(url?: string | URL): Promise<AuthResult>;

  /** Forgets the tokens and, unless `localOnly`, navigates to the end-session endpoint. */
  logout(params?: LogoutParams): Promise<void>;

  /**
   * The browser's fetch with `Authorization: Bearer <access token>`. On a 401
   * it renews once (shared with a renewal in flight) and retries once. Only
   * URLs on an origin in `apiOrigins` get the token; any other rejects with
   * `invalid_configuration` before anything is sent.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;

  /**
   * The headers `fetch` would send to `url`: `Authorization` with a valid
   * access token (renewed if needed) and, with a DPoP-bound token, a fresh
   * `DPoP` proof for this method and URL. For another HTTP client or a
   * WebSocket. A URL outside `apiOrigins` rejects with `invalid_configuration`.
   */
  getAuthHeaders(url: string | URL, options?: { method?: string }): Promise<AuthHeaders>;

  /** Adds a handler; returns a function that removes it. Unknown events throw. */
  on<K extends SilentAuthEvent>(event: K, handler: SilentAuthEventHandler<K>): () => void;
  off<K extends SilentAuthEvent>(event: K, handler: SilentAuthEventHandler<K>): void;

  startAutoRenew(): void;
  stopAutoRenew(): void;

  /** Stops timers, removes listeners and iframes, and releases the Go callbacks. */
  destroy(): void;
}

/** What the page's one Go runtime holds, for leak tests and benchmarks. */
export interface SilentAuthStats {
  /** Whether the runtime has been started (by any copy of the loader). */
  running: boolean;
  /** Go callbacks alive. */
  liveFuncs: number;
  /** Hidden iframes alive. */
  liveFrames: number;
  /** Size of the WebAssembly linear memory. */
  wasmMemoryBytes: number;
  /** The Go heap's allocated objects, inside the linear memory. */
  goHeapBytes: number;
}

/**
 * Creates a client, starting the Go runtime on first use. Every client on the
 * page, from any copy of silentauth.js or silentauth.mjs, shares one runtime.
 */
export function createClient(options: ClientOptions): Promise<Client>;

export function stats(): Promise<SilentAuthStats>;

/** The module's exports as one object; also the shape of the script tag's global. */
export interface SilentAuth {
  createClient(options: ClientOptions): Promise<Client>;
  stats(): Promise<SilentAuthStats>;
  SilentAuthError: typeof SilentAuthError;
  isSilentAuthError(e: unknown): e is SilentAuthError;
}

declare const silentauth: SilentAuth;
export default silentauth;
