//! The script a new hook starts with, per trigger: the trigger's signature from the hook
//! contract (docs/hooks.md), a line on what it may return, and a callback that succeeds.

use hookhaven_core::TriggerId;

pub fn starter(trigger: TriggerId) -> &'static str {
    match trigger {
        TriggerId::CredentialsExchange => CREDENTIALS_EXCHANGE,
        TriggerId::PreUserRegistration => PRE_USER_REGISTRATION,
        TriggerId::PostUserRegistration => POST_USER_REGISTRATION,
        TriggerId::PostChangePassword => POST_CHANGE_PASSWORD,
        TriggerId::SendPhoneMessage => SEND_PHONE_MESSAGE,
    }
}

/// True when `script` is empty or one of the starters unchanged, i.e. the administrator
/// did not write anything of their own yet.
pub fn is_untouched(script: &str) -> bool {
    let s = script.trim();
    s.is_empty()
        || hookhaven_core::hook::ALL_TRIGGERS
            .iter()
            .any(|t| starter(*t).trim() == s)
}

const CREDENTIALS_EXCHANGE: &str = r#"/**
 * Runs when a machine-to-machine client asks /oauth/token for an access token.
 *
 * client   { id, name, tenant, metadata }
 * scope    the requested scopes (array of strings), or undefined
 * audience the API identifier the token is for
 * context  { webtask: { secrets, ... } }: read secrets as context.webtask.secrets.NAME
 * cb       cb(error, claims)
 */
module.exports = function (client, scope, audience, context, cb) {
  const claims = {};
  // Keep the requested scopes; leave `scope` out to issue a token without scopes.
  claims.scope = scope;
  // Extra claims need a namespace URL, e.g. claims['https://example.com/plan'] = 'gold';
  // Refuse the token with cb(new InvalidScopeError('...')), InvalidRequestError or ServerError.
  cb(null, claims);
};
"#;

const PRE_USER_REGISTRATION: &str = r#"/**
 * Runs before a user is created in a database connection.
 *
 * user     { tenant, username, password, email, emailVerified, phoneNumber, ... }
 * context  { requestLanguage, connection: { id, name, tenant }, webtask: { secrets, ... } }
 * cb       cb(error, { user: { user_metadata, app_metadata } })
 */
module.exports = function (user, context, cb) {
  const response = { user: { user_metadata: {}, app_metadata: {} } };
  // Refuse the sign-up with
  // cb(new PreUserRegistrationError('log message', 'message for the user'));
  cb(null, response);
};
"#;

const POST_USER_REGISTRATION: &str = r#"/**
 * Runs after a user was created, in the background: its result is ignored.
 *
 * user     { id, tenant, username, email, emailVerified, phoneNumber, user_metadata, app_metadata }
 * context  { requestLanguage, connection: { id, name, tenant }, webtask: { secrets, ... } }
 * cb       cb(error)
 */
module.exports = function (user, context, cb) {
  // Notify another system here, e.g. with fetch() to an allowed host.
  cb();
};
"#;

const POST_CHANGE_PASSWORD: &str = r#"/**
 * Runs after a user changed their password, in the background: its result is ignored.
 *
 * user     { id, username, email, last_password_reset }
 * context  { connection: { id, name, tenant }, webtask: { secrets, ... } }
 * cb       cb(error)
 */
module.exports = function (user, context, cb) {
  // Tell the user or another system about the change here.
  cb();
};
"#;

const SEND_PHONE_MESSAGE: &str = r#"/**
 * Sends a multi-factor code by SMS or voice through your own provider.
 *
 * recipient the phone number
 * text      the message to send
 * context   { message_type, action, language, code, ip, user_agent, client, user, webtask }
 * cb        cb(error, result)
 */
module.exports = function (recipient, text, context, cb) {
  // Call your provider here, with its key in context.webtask.secrets.
  cb(null, {});
};
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use hookhaven_core::hook::ALL_TRIGGERS;

    #[test]
    fn every_trigger_has_a_starter_that_compiles() {
        let runtime = hookhaven_runtime::HookRuntime::new(Default::default());
        for trigger in ALL_TRIGGERS {
            let script = starter(trigger);
            assert!(runtime.compile(script).is_ok(), "{trigger:?}");
            assert!(is_untouched(script));
        }
        assert!(is_untouched("  "));
        assert!(!is_untouched("module.exports = function () {};"));
    }
}
