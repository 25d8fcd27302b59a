// Every name of API.md through the ES module's types. `make typecheck`
// compiles this with strict settings; each @ts-expect-error is a misuse that
// must stay a compile error (tsc fails if the line compiles).
import silentauthDefault, {
  createClient,
  isSilentAuthError,
  SilentAuthError,
  stats,
  type AuthorizeParamName,
  type AuthHeaders,
  type AuthorizeParams,
  type AuthResult,
  type CheckSessionCallback,
  type Client,
  type ClientOptions,
  type ErrorCode,
  type IdTokenClaims,
  type LogoutParams,
  type SilentAuthEvent,
  type SilentAuthEventMap,
  type SilentAuthStats,
  type User,
} from "silentauth";

const options: ClientOptions = {
  domain: "login.example.com",
  clientId: "spa",
  redirectUri: location.origin,
  responseType: "code",
  scope: "openid profile email offline_access",
  audience: "https://api.example.com/",
  timeoutInSeconds: 30,
  leewayInSeconds: 60,
  autoRenew: true,
  renewBeforeExpiryInSeconds: 60,
  minValidityInSeconds: 5,
  issuer: "https://login.example.com/",
  authorizationEndpoint: "https://login.example.com/authorize",
  tokenEndpoint: "https://login.example.com/oauth/token",
  jwksUri: "https://login.example.com/.well-known/jwks.json",
  apiOrigins: [location.origin, "https://api.example.com"],
  endSessionEndpoint: "https://login.example.com/v2/logout",
  sessionCheckIntervalInSeconds: 0,
  useRefreshTokens: true,
  useRefreshTokensFallback: true,
  refreshTokenStorage: "memory",
  useDpop: false,
  debug: false,
  wasmUrl: "/assets/silentauth.wasm",
};

// auth0.js's spelling of the client id is accepted on its own.
const auth0jsStyle: ClientOptions = { domain: "login.example.com", clientID: "spa" };

// @ts-expect-error: clientId (or clientID) is required
const noClientId: ClientOptions = { domain: "login.example.com" };

// @ts-expect-error: unknown options are an error, here as at run time
const unknownOption: ClientOptions = { domain: "login.example.com", clientId: "spa", renewEarly: true };

// @ts-expect-error: refreshTokenStorage is "memory" or "local"
const badStorage: ClientOptions = { domain: "login.example.com", clientId: "spa", refreshTokenStorage: "session" };

// @ts-expect-error: responseType is one of the four supported types
const badResponseType: ClientOptions = { domain: "login.example.com", clientId: "spa", responseType: "code id_token" };

function describe(err: SilentAuthError): string {
  const code: ErrorCode = err.error;
  switch (code) {
    case "login_required":
    case "consent_required":
    case "interaction_required":
    case "account_selection_required":
    case "missing_refresh_token":
    case "invalid_grant":
      return "log in again";
    case "timeout":
    case "invalid_token":
    case "invalid_state":
    case "origin_mismatch":
    case "invalid_configuration":
      return `${err.name}: ${err.message} (${err.error_description}) state=${err.state ?? "-"}`;
    default:
      // Server codes pass through as strings.
      return code.toUpperCase();
  }
}

function useResult(r: AuthResult): number {
  const claims: IdTokenClaims | undefined = r.idTokenPayload;
  const email: unknown = claims?.["email"];
  // Fields the response type does not produce are absent: no ! needed, and none allowed to be assumed.
  // @ts-expect-error: accessToken may be absent (response type "id_token")
  const token: string = r.accessToken;
  void token;
  return (r.expiresAt ?? 0) - Date.now() + (r.expiresIn ?? 0) + String(email).length + (r.idToken?.length ?? 0) +
    (r.tokenType?.length ?? 0) + (r.scope?.length ?? 0) + (r.state?.length ?? 0);
}

async function main(): Promise<void> {
  const client: Client = await createClient(options);
  const other = await silentauthDefault.createClient(auth0jsStyle);
  other.destroy();

  const params: AuthorizeParams = {
    scope: "openid",
    audience: "https://api.example.com/",
    responseType: "id_token token",
    timeoutInSeconds: 10,
    login_hint: "demo@example.com",
    organization: "org_123",
    connection: "Username-Password-Authentication",
    max_age: 3600,
    ui_locales: "en fr",
    custom_param: true,
  };
  // @ts-expect-error: state is generated for every request, never the caller's
  const withState: AuthorizeParams = { state: "mine" };
  void withState;
  // @ts-expect-error: authorize parameters go by their wire names: login_hint, not loginHint
  await client.checkSession({ loginHint: "demo@example.com" });
  // @ts-expect-error: max_age, not maxAge
  const camelTypo: AuthorizeParams = { maxAge: 60 };
  void camelTypo;
  // Any other lower-case name passes through, and so does a dynamic set of them.
  const wireName: AuthorizeParamName = "ext-tenant";
  const passThrough: AuthorizeParams = { [wireName]: "blue", acr_values: "urn:mfa", id_token_hint: "eyJ", screen_hint: "signup" };
  const dynamic: Record<string, string> = JSON.parse("{}");
  await client.checkSession({ ...passThrough, ...dynamic });

  // Rejections are SilentAuthErrors; the guard narrows what catch gives.
  try {
    await client.getTokenSilently();
  } catch (e: unknown) {
    if (isSilentAuthError(e)) describe(e);
    if (e instanceof SilentAuthError && e.error === "login_required") await client.loginWithRedirect();
    if (silentauthDefault.isSilentAuthError(e)) console.log(e.error_description, e.state, e.cause);
  }
  const made = new SilentAuthError("timeout", "no answer");
  const asError: Error = made;
  void asError;

  const result: AuthResult = await client.checkSession(params);
  useResult(result);
  await client.checkSession();
  const cb: CheckSessionCallback = (err, res) => {
    if (err) describe(err);
    else if (res) useResult(res);
  };
  const nothing: void = client.checkSession(params, cb);
  void nothing;
  client.checkSession((err, res) => void (err ? err.error_description : res?.accessToken));
  // @ts-expect-error: the callback style returns nothing to await
  await client.checkSession(params, cb).then(() => 1);

  const token: string = await client.getTokenSilently({ audience: "https://api.example.com/" });
  const user: User | null = client.getUser();
  if (user) console.log(user.email, user.sub, user["https://example.com/roles"]);
  const res: Response = await client.fetch("/api/private", { method: "POST", body: token });
  const auth: AuthHeaders = await client.getAuthHeaders("https://api.example.com/orders", { method: "POST" });
  const proof: string | undefined = auth.DPoP;
  void [auth.Authorization, proof];
  void res;

  await client.loginWithRedirect({ login_hint: "demo@example.com", prompt: "login" });
  const fromRedirect: AuthResult = await client.handleRedirectCallback();
  await client.handleRedirectCallback(new URL(location.href));
  useResult(fromRedirect);
  const logoutParams: LogoutParams = { returnTo: location.origin, localOnly: true, federated: true };
  await client.logout(logoutParams);
  await client.logout();

  const onRenewed = (r: AuthResult) => void useResult(r);
  const unsubscribe: () => void = client.on("renewed", onRenewed);
  client.on("renew_error", (e) => void describe(e));
  client.on("session_ended", (e) => console.log(e.error, e.error_description));
  client.off("renewed", onRenewed);
  unsubscribe();

  // @ts-expect-error: "renew" is not an event
  client.on("renew", () => {});
  // @ts-expect-error: renewed's payload is an AuthResult, not an error
  client.on("renewed", (e: SilentAuthError) => describe(e));
  // @ts-expect-error: renew_error's payload is an error, which has no accessToken
  client.on("renew_error", (e) => e.accessToken);

  const events: SilentAuthEvent[] = ["renewed", "renew_error", "session_ended"];
  const payload: SilentAuthEventMap["session_ended"] = new Error("x") as SilentAuthError;
  void events;
  void payload;

  client.stopAutoRenew();
  client.startAutoRenew();
  client.destroy();

  const s: SilentAuthStats = await stats();
  console.log(s.running, s.liveFuncs, s.liveFrames, s.wasmMemoryBytes);
}

void main;
void noClientId;
void unknownOption;
void badResponseType;
