// The pages' whole stylesheet and script, inlined under the response's CSP nonce (no extra
// requests, no 'unsafe-inline'). Colours meet WCAG 2.2 AA contrast in both schemes
// (test/contrast.test.ts computes every pair).

export const STYLE = `
:root{color-scheme:light dark;--bg:#f4f6fb;--card:#fff;--text:#172033;--muted:#4a5568;--line:#d5dbe6;--accent:#1d4ed8;--accent-text:#fff;--accent-soft:#e8efff;--error:#b42318;--error-text:#fff;--error-soft:#fdecea;--ok:#146c2e;--ok-soft:#e7f6ec;--focus:#1d4ed8;--radius:14px}
@media (prefers-color-scheme:dark){:root{--bg:#0e1422;--card:#161e2f;--text:#e8ecf4;--muted:#a9b4c6;--line:#2d3a52;--accent:#8fb0ff;--accent-text:#0e1422;--accent-soft:#1d2a47;--error:#ff9b8f;--error-text:#0e1422;--error-soft:#3a1d1d;--ok:#7fdc9a;--ok-soft:#183324;--focus:#8fb0ff}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent)}
a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px;top:0;background:var(--card);padding:.5rem 1rem;z-index:2}
.skip:focus{left:1rem;top:1rem}
.top{display:flex;flex-wrap:wrap;gap:.75rem 1.5rem;align-items:center;justify-content:space-between;max-width:68rem;margin:0 auto;padding:1rem 1.25rem}
.brand{font-weight:700;font-size:1.1rem;color:var(--text);text-decoration:none;display:flex;align-items:center;gap:.5rem}
.brand::before{content:"";width:1.6rem;height:1.6rem;border-radius:8px;background:linear-gradient(135deg,#1d4ed8,#7c3aed)}
.top nav{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
.langs{display:flex;gap:.25rem;list-style:none;margin:0;padding:0}
.langs a{display:inline-block;padding:.25rem .6rem;border-radius:999px;text-decoration:none;color:var(--muted)}
.langs a[aria-current]{background:var(--accent-soft);color:var(--text);font-weight:600}
main{max-width:68rem;margin:0 auto;padding:0 1.25rem 3rem}
.narrow{max-width:30rem;margin:2rem auto 0}
h1{font-size:1.75rem;line-height:1.2;margin:0 0 .5rem}
h2{font-size:1.2rem;margin:0 0 .5rem}
h3{font-size:1rem;margin:1.5rem 0 .5rem}
.lead{color:var(--muted);margin:0 0 1.5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:1.5rem;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.card+.card,.grid+.card{margin-top:1.25rem}
.grid{display:grid;gap:1.25rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,20rem),1fr));margin-top:1.25rem}
.grid .card{margin:0}
.field{margin:0 0 1.1rem}
label,.label{display:block;font-weight:600;margin-bottom:.3rem}
.optional{font-weight:400;color:var(--muted)}
.hint{color:var(--muted);font-size:.9rem;margin:-.1rem 0 .4rem}
.error{color:var(--error);font-weight:600;font-size:.95rem;margin:0 0 .4rem}
input[type=text],input[type=tel],input[type=email],input[type=password]{width:100%;font:inherit;padding:.7rem .8rem;border:1.5px solid var(--line);border-radius:10px;background:var(--card);color:var(--text)}
input[aria-invalid=true]{border-color:var(--error);border-width:2px}
input.code{font-size:1.5rem;letter-spacing:.35em;font-variant-numeric:tabular-nums;max-width:14rem}
input[readonly]{background:var(--accent-soft)}
.check{display:flex;gap:.6rem;align-items:flex-start;font-weight:400}
.check input{width:1.2rem;height:1.2rem;margin:.15rem 0 0;flex:none}
button{font:inherit;font-weight:600;cursor:pointer;white-space:nowrap;border-radius:10px;padding:.7rem 1.2rem;border:1.5px solid var(--accent);background:var(--accent);color:var(--accent-text)}
button.secondary{background:transparent;color:var(--accent)}
button.danger{background:var(--error);border-color:var(--error);color:var(--error-text)}
button:disabled{opacity:.55;cursor:not-allowed}
.actions{display:flex;flex-wrap:wrap;gap:.75rem 1rem;align-items:center;margin-top:.5rem}
.alert{border-radius:10px;padding:.8rem 1rem;margin:0 0 1.1rem;border:1.5px solid}
.alert.error-box{border-color:var(--error);background:var(--error-soft)}
.alert.error-box p{margin:0;color:var(--text)}
.alert.ok{border-color:var(--ok);background:var(--ok-soft)}
.alert h2{font-size:1rem;margin:0 0 .25rem;color:var(--error)}
.sandbox{border:2px dashed var(--accent);background:var(--accent-soft);border-radius:10px;padding:.75rem 1rem;margin:0 0 1.25rem}
.sandbox p{margin:0}
.sandbox strong{display:block;font-size:1.6rem;letter-spacing:.25em;font-variant-numeric:tabular-nums}
.card-foot{border-top:1px solid var(--line);margin-top:1.5rem;padding-top:1rem}
.card-foot .meta{margin-top:0}
.card-foot .other-channels{display:flex;flex-wrap:wrap;gap:.5rem .75rem;align-items:center;margin-top:1.25rem}
.other-channels p{flex-basis:100%;margin:0}
details{margin:0 0 1.1rem}
summary{cursor:pointer;color:var(--accent);margin-bottom:.6rem}
.copy{display:flex;gap:.5rem;align-items:stretch}
.copy input{font-size:1.25rem;font-weight:700;letter-spacing:.15em;max-width:12rem}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(8rem,1fr));gap:.75rem;margin:0}
.stats div{background:var(--accent-soft);border-radius:10px;padding:.75rem}
.stats dt{color:var(--muted);font-size:.85rem}
.stats dd{margin:0;font-size:1.5rem;font-weight:700}
.table{overflow-x:auto}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;padding:.5rem .4rem;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:600}
.sessions{list-style:none;padding:0;margin:0}
.sessions li{display:flex;justify-content:space-between;gap:1rem;align-items:center;padding:.75rem 0;border-bottom:1px solid var(--line)}
.sessions li>div{min-width:0}
.sessions li:last-child{border-bottom:0}
.device{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:32rem;display:block}
.badge{display:inline-block;background:var(--ok-soft);color:var(--ok);border-radius:999px;padding:0 .5rem;font-size:.8rem;font-weight:700;margin-left:.4rem}
.meta{color:var(--muted);font-size:.9rem}
.profile-head{display:flex;flex-wrap:wrap;justify-content:space-between;gap:1rem;align-items:flex-end;margin-top:1.5rem}
.danger-zone{border-color:var(--error)}
.inline{display:inline}
.inline-form{display:flex;gap:.5rem;align-items:stretch;max-width:28rem}
.nowrap{white-space:nowrap}
@media (max-width:30rem){.card{padding:1.1rem}h1{font-size:1.5rem}.sessions li{flex-direction:column;align-items:flex-start}}
`;

// Progressive enhancement only (every page works without it), kept minified by hand:
// - copy buttons ([data-copy]) are unhidden where the Clipboard API exists;
// - the resend note ([data-countdown]) counts down and keeps its button disabled meanwhile;
// - WebOTP fills the one-time-code field from the SMS and submits, where the browser has it.
export const SCRIPT = `(function(){var d=document;
d.querySelectorAll("[data-copy]").forEach(function(b){var f=d.getElementById(b.dataset.copy),s=d.getElementById(b.dataset.status);
if(!f||!navigator.clipboard)return;b.hidden=false;b.addEventListener("click",function(){
navigator.clipboard.writeText(f.value).then(function(){if(s)s.textContent=b.dataset.done},function(){f.select()})})});
d.querySelectorAll("[data-countdown]").forEach(function(n){var left=+n.dataset.countdown,b=d.getElementById(n.dataset.button);
(function tick(){if(b)b.disabled=left>0;n.textContent=left>0?n.dataset.wait.replace("{s}",left):n.dataset.ready;if(left-->0)setTimeout(tick,1000)})()});
var c=d.querySelector("input[autocomplete=one-time-code]");
if(c&&"OTPCredential" in window){var a=new AbortController();c.form.addEventListener("submit",function(){a.abort()});
navigator.credentials.get({otp:{transport:["sms"]},signal:a.signal}).then(function(o){if(o&&o.code){c.value=o.code;c.form.requestSubmit()}}).catch(function(){})}})();`;

// Passkeys (WebAuthn needs JavaScript; everything else on the pages works without it). Loaded only
// when WEBAUTHN_* are set. Options come from the page's own endpoints (CSRF token in the body);
// the credential goes back in a hidden field of an ordinary form post, so the server answers with
// the same redirect or refused page as every other form.
// - `form[data-passkey-signin]` on `/`: the button, and conditional mediation (passkeys offered in
//   the phone field's autofill) where the browser has it;
// - `form[data-passkey-add]` on `/profile`: creates a passkey, then posts it with its name.
// The parse*FromJSON / toJSON fallbacks are for browsers older than WebAuthn Level 3.
export const PASSKEY_SCRIPT = `(function(){var d=document,P=window.PublicKeyCredential;if(!P||!window.fetch)return;
function buf(s){return Uint8Array.from(atob(s.replace(/-/g,"+").replace(/_/g,"/")),function(c){return c.charCodeAt(0)}).buffer}
function b64(b){var a=new Uint8Array(b),s="";for(var i=0;i<a.length;i++)s+=String.fromCharCode(a[i]);return btoa(s).replace(/\\+/g,"-").replace(/\\//g,"_").replace(/=+$/,"")}
function ids(l){(l||[]).forEach(function(c){c.id=buf(c.id)})}
function req(o){if(P.parseRequestOptionsFromJSON)return P.parseRequestOptionsFromJSON(o);o.challenge=buf(o.challenge);ids(o.allowCredentials);return o}
function cre(o){if(P.parseCreationOptionsFromJSON)return P.parseCreationOptionsFromJSON(o);o.challenge=buf(o.challenge);o.user.id=buf(o.user.id);ids(o.excludeCredentials);return o}
function json(c){if(c.toJSON)try{return c.toJSON()}catch(e){}var r=c.response,j={id:c.id,rawId:b64(c.rawId),type:c.type,authenticatorAttachment:c.authenticatorAttachment,clientExtensionResults:c.getClientExtensionResults(),response:{clientDataJSON:b64(r.clientDataJSON)}};
if(r.attestationObject){j.response.attestationObject=b64(r.attestationObject);j.response.transports=r.getTransports?r.getTransports():[]}else{j.response.authenticatorData=b64(r.authenticatorData);j.response.signature=b64(r.signature);if(r.userHandle)j.response.userHandle=b64(r.userHandle)}return j}
function say(f,m){var s=f.querySelector("[data-passkey-status]");if(s)s.textContent=m}
function options(url,f){var b=new URLSearchParams(),p=f.elements.current_password;b.set("csrf",f.elements.csrf.value);if(p&&p.value)b.set("current_password",p.value);
return fetch(url,{method:"POST",body:b,credentials:"same-origin"}).then(function(r){return r.json().then(function(j){if(!r.ok)throw new Error(j.message||"");return j})})}
function send(f,c){f.elements.response.value=JSON.stringify(json(c));f.submit()}
d.querySelectorAll("[data-passkey-js]").forEach(function(n){n.hidden=false});d.querySelectorAll("[data-passkey-nojs]").forEach(function(n){n.hidden=true});
var s=d.querySelector("form[data-passkey-signin]");if(s){var ac;
function get(m){if(ac)ac.abort();ac=new AbortController();var g=ac.signal;return options("/passkey/options",s).then(function(o){var a={publicKey:req(o),signal:g};if(m)a.mediation=m;return navigator.credentials.get(a)}).then(function(c){if(c)send(s,c)})}
s.querySelector("button").addEventListener("click",function(){say(s,"");get().catch(function(e){if(e.name!=="AbortError")say(s,e.message||s.dataset.failed)})});
if(P.isConditionalMediationAvailable)P.isConditionalMediationAvailable().then(function(ok){if(ok)get("conditional").catch(function(){})})}
var a=d.querySelector("form[data-passkey-add]");if(a){var create=function(e){if(e)e.preventDefault();say(a,"");options("/profile/passkeys/options",a).then(function(o){return navigator.credentials.create({publicKey:cre(o)})}).then(function(c){send(a,c)}).catch(function(e){say(a,e.name==="NotAllowedError"||!e.message?a.dataset.failed:e.message)})};
a.addEventListener("submit",create)}})();`;
