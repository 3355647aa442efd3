//! Signing in to the web pages (SPEC 16.5): a session started with an API token or a
//! one-time sign-in link. The browser holds a random session id; the database holds only
//! its SHA-256, with the CSRF token the session's forms carry. Sign-in links are random
//! tokens too, stored hashed, usable once within 15 minutes.

use jiff::{SignedDuration, Timestamp};
use orderly_domain::{AccountId, Role};
use orderly_store::{Account, IdempotentResponse, Session};

use crate::error::AppError;
use crate::service::{App, BOOTSTRAP_ADMIN_ID};
use crate::tokens;

/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How long a sign-in link may wait to be used.
pub const SIGNIN_LINK_LIFETIME: SignedDuration = SignedDuration::from_mins(15);
/// The longest `return_to` kept with a link.
const RETURN_TO_MAX: usize = 500;

/// A session just started: the id for the browser's cookie (never stored) and when it
/// ends.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: String,
    pub account: Account,
    pub expires_at: Timestamp,
}

/// A sign-in link just made: its token (for the URL, never stored) and when it expires.
#[derive(Clone, Debug)]
pub struct NewSigninLink {
    pub token: String,
    pub expires_at: Timestamp,
}

/// The paths a sign-in link may send a browser to: the pages' own, never another site.
pub fn valid_return_to(path: &str) -> bool {
    const PAGES: [&str; 6] = ["/", "/orders", "/catalogue", "/seller", "/admin", "/signin"];
    path.len() <= RETURN_TO_MAX
        && path.starts_with('/')
        && !path.starts_with("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_?=&.%".contains(c))
        && PAGES.iter().any(|page| {
            path == *page
                || (*page != "/"
                    && path
                        .strip_prefix(page)
                        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?')))
        })
}

impl App {
    /// Starts a session for the account the API token belongs to; `None` for a token that
    /// is unknown or revoked.
    pub async fn sign_in_with_token(&self, token: &str) -> Result<Option<NewSession>, AppError> {
        let Some(account) = self.authenticate(token.trim()).await? else {
            return Ok(None);
        };
        if account.id == BOOTSTRAP_ADMIN_ID {
            self.ensure_bootstrap_admin_row(&account).await?;
        }
        Ok(Some(self.start_session(account).await?))
    }

    /// Uses a sign-in link and starts a session; `None` when the link is unknown, used,
    /// expired or its account revoked. The second value is where the link sends the
    /// browser.
    pub async fn sign_in_with_link(
        &self,
        token: &str,
    ) -> Result<Option<(NewSession, Option<String>)>, AppError> {
        let Some(link) = self
            .store
            .redeem_signin_link(&tokens::hash(token.trim()), self.now())
            .await?
        else {
            return Ok(None);
        };
        let Some(account) = self.store.account(link.account_id).await? else {
            return Ok(None);
        };
        Ok(Some((self.start_session(account).await?, link.return_to)))
    }

    /// The live session with that id.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, AppError> {
        Ok(self.store.session(&tokens::hash(id), self.now()).await?)
    }

    /// Ends a session (signing out).
    pub async fn sign_out(&self, id: &str) -> Result<(), AppError> {
        Ok(self.store.end_session(&tokens::hash(id)).await?)
    }

    /// Makes a one-time sign-in link for an account (admin); `answer` is stored with it
    /// and never sees the token.
    pub async fn create_signin_link(
        &self,
        account_id: AccountId,
        return_to: Option<&str>,
        answer: impl FnOnce(&NewSigninLink) -> Option<IdempotentResponse>,
    ) -> Result<NewSigninLink, AppError> {
        // Taken as written: a form's empty field is the page's to leave out.
        if let Some(path) = return_to
            && !valid_return_to(path)
        {
            return Err(orderly_domain::Rejection::Validation {
                field: "return_to",
                detail: "return_to must be a path of these pages, such as /orders or /orders/{id}; leave it out for the account's home"
                    .into(),
            }
            .into());
        }
        let account = self
            .store
            .account(account_id)
            .await?
            .filter(|account| account.revoked_at.is_none())
            .ok_or(AppError::NoSuch("account"))?;
        let now = self.now();
        let link = NewSigninLink {
            token: tokens::generate(),
            expires_at: now + SIGNIN_LINK_LIFETIME,
        };
        let stored = answer(&link);
        self.store
            .create_signin_link(
                &tokens::hash(&link.token),
                account.id,
                return_to,
                now,
                link.expires_at,
                stored.as_ref(),
            )
            .await?;
        Ok(link)
    }

    async fn start_session(&self, account: Account) -> Result<NewSession, AppError> {
        let id = tokens::generate();
        let csrf = tokens::generate();
        let now = self.now();
        let expires_at = now + SESSION_LIFETIME;
        self.store
            .create_session(&tokens::hash(&id), account.id, &csrf, now, expires_at)
            .await?;
        Ok(NewSession {
            id,
            account,
            expires_at,
        })
    }

    /// The operator's admin token has no account row; a session needs one. Its token hash
    /// is one no token hashes to, so the row itself never signs anybody in.
    async fn ensure_bootstrap_admin_row(&self, account: &Account) -> Result<(), AppError> {
        if self.store.account(account.id).await?.is_some() {
            return Ok(());
        }
        let row = Account {
            role: Role::Admin,
            ..account.clone()
        };
        match self
            .store
            .create_account(
                &row,
                "bootstrap-admin: signs in with the configured token",
                None,
            )
            .await
        {
            Ok(()) => Ok(()),
            // Another sign-in made it first.
            Err(_) if self.store.account(account.id).await?.is_some() => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

impl App {
    /// Uses `sender` for the e-mails that go out at once rather than through the outbox
    /// (sign-in links). `serve` sets it when `[email]` is configured.
    pub fn use_mailer(&self, sender: std::sync::Arc<crate::mail::EmailSender>) {
        let _ = self.mailer.set(sender);
    }

    /// Whether sign-in links can be e-mailed.
    pub fn can_email(&self) -> bool {
        self.mailer.get().is_some()
    }

    /// E-mails a one-time sign-in link to each account with this address (one person may
    /// hold a buyer's and a seller's account). The number sent; whatever it is, the person
    /// asking is told the same, so nobody can find out which addresses have accounts.
    pub async fn email_signin_links(
        &self,
        address: &str,
        return_to: Option<&str>,
    ) -> Result<usize, AppError> {
        let Some(mailer) = self.mailer.get() else {
            return Ok(0);
        };
        let address = address.trim();
        if address.is_empty() || address.len() > 254 || !address.contains('@') {
            return Ok(0);
        }
        let return_to = return_to.filter(|path| valid_return_to(path));
        let mut sent = 0;
        for account in self.store.accounts_by_email(address).await? {
            let Some(to) = account.email.clone() else {
                continue;
            };
            let link = self
                .create_signin_link(account.id, return_to, |_| None)
                .await?;
            let url = format!("{}/signin/link/{}", self.public_url(), link.token);
            let (name, role) = (account.name.as_str(), account.role.code());
            let subject = format!("Your sign-in link for {name} ({role})");
            let text = format!(
                "Hello,\n\nSomeone, we hope you, asked to sign in as {name} ({role}). Open this link within 15 minutes; it works once:\n\n{url}\n\nIf it was not you, ignore this e-mail: nothing happens without the link.\n\n— orderly, on behalf of the marketplace\n"
            );
            let html = format!(
                "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>Someone, we hope you, asked to sign in as {name} ({role}).</p><p><a href=\"{url}\">Sign in</a> within 15 minutes; the link works once.</p><p>If it was not you, ignore this e-mail: nothing happens without the link.</p></body></html>",
                name = crate::notify::escape(name),
                url = crate::notify::escape(&url),
            );
            match mailer.send_now(name, &to, &subject, text, html).await {
                Ok(()) => sent += 1,
                Err(error) => {
                    tracing::warn!(account = %account.id, %error, "a sign-in link could not be e-mailed")
                }
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::valid_return_to;

    #[test]
    fn return_to_is_a_path_of_the_pages_and_nothing_else() {
        for good in [
            "/",
            "/orders",
            "/orders/0193-ab",
            "/seller",
            "/admin?kind=complaint",
            "/catalogue",
        ] {
            assert!(valid_return_to(good), "{good}");
        }
        for bad in [
            "",
            "//evil.example",
            "https://evil.example",
            "/api/v1/orders",
            "orders",
            "/ordersx",
            "/\\evil",
            "/orders/<script>",
            "/admin\n",
            "/signin@evil",
        ] {
            assert!(!valid_return_to(bad), "{bad}");
        }
    }
}
