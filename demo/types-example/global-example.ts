// The script tag's global, typed by silentauth/global. A page that loads
// silentauth.js opts in with this import (or a triple-slash reference).
import type {} from "silentauth/global";
import type { AuthResult } from "silentauth";

export async function fromScriptTag(): Promise<AuthResult> {
  const client = await silentauth.createClient({ domain: "login.example.com", clientId: "spa" });
  const s = await window.silentauth.stats();
  console.log(s.running);
  // @ts-expect-error: createClient needs options
  await silentauth.createClient();
  try {
    return await client.checkSession({ login_hint: "demo@example.com" });
  } catch (e) {
    if (silentauth.isSilentAuthError(e) && e.error === "login_required") await client.loginWithRedirect();
    if (e instanceof silentauth.SilentAuthError) console.log(e.error_description);
    throw e;
  }
}
