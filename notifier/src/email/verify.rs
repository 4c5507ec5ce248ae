//! The e-mail that confirms a new e-mail device: a link to open, sent once per command.

use super::{CONSUMER, EmailWorker, transport::SendError};
use hark_core::{
    bus::consume::{self, HandleError},
    events::VerifyEmail,
    ids::EventId,
    store,
};
use lettre::Message;

impl EmailWorker {
    /// Send a device verification link, once per command.
    pub(super) async fn verify(&self, event: EventId, v: VerifyEmail) -> Result<(), HandleError> {
        let e2 = event.clone();
        let done = self
            .deps
            .store
            .run(move |c| store::processed::is_processed(c, CONSUMER, &e2))
            .await?;
        if done {
            return Ok(());
        }
        let text = format!(
            "Hello,\n\nSomeone (we hope you) added {} to their Hark account as a place to \
             receive voice messages.\n\nConfirm it: {}\n\nIf this was not you, ignore this \
             e-mail: nothing will be sent here.\n",
            v.address, v.link
        );
        let email = Message::builder()
            .message_id(Some(format!("<{event}@hark>")))
            .from(
                self.config
                    .from
                    .parse()
                    .map_err(|e| HandleError::Poison(format!("from address: {e}")))?,
            )
            .to(v
                .address
                .parse()
                .map_err(|e| HandleError::Poison(format!("address {:?}: {e}", v.address)))?)
            .subject("Confirm your e-mail address for Hark")
            .body(text)
            .map_err(|e| HandleError::Poison(e.to_string()))?;
        match self.mailer.send(email).await {
            Ok(()) | Err(SendError::Permanent(_)) => {
                consume::once(&self.deps.store, CONSUMER, event, |_| Ok(())).await?;
                tracing::info!(user = %v.user_id, "verification e-mail sent");
                Ok(())
            }
            Err(SendError::Transient(why)) => Err(HandleError::Retry(why)),
        }
    }
}
