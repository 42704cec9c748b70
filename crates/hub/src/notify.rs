//! Telling visitors by e-mail and SMS that the sede has answered, through the hub's job table:
//! the message is written when the event commits (in the same transaction, so a rolled-back
//! reply notifies nobody) and sent by whichever instance claims the job, retried with backoff
//! while the mail server or the SMS provider is down. One job per channel, so a failing SMS
//! provider never sends the e-mail twice.
//!
//! The messages say *that* something happened and where to read it, never what the sede
//! wrote: an e-mail box or a phone's lock screen is not the place for contribution matters.

use deadpool_postgres::GenericClient;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::jobs::{self, Registry};
use config::HubConfig;

/// Job kind of an e-mail.
pub const EMAIL: &str = "notify_email";
/// Job kind of an SMS.
pub const SMS: &str = "notify_sms";

/// An e-mail waiting in the job table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// An SMS waiting in the job table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sms {
    /// Recipient, as the visitor gave it.
    pub to: String,
    /// The text (kept within one 160-character message where it can be).
    pub text: String,
}

/// How the hub sends notifications; a channel left unconfigured is skipped (the job is done,
/// with a line in the log), so a demo hub without a mail server still works.
#[derive(Clone, Default)]
pub struct Notifier {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Option<lettre::message::Mailbox>,
    sms: Option<(String, Option<String>, String)>,
    http: reqwest::Client,
}

impl Notifier {
    /// From the `[hub]` section.
    pub fn from_config(config: &HubConfig) -> Result<Self, HubError> {
        let smtp = match &config.smtp_url {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| HubError::Config(format!("hub.smtp_url: {e}")))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            None => None,
        };
        let from = config
            .mail_from
            .parse()
            .map_err(|e| HubError::Config(format!("hub.mail_from: {e}")))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| HubError::Config(format!("SMS client: {e}")))?;
        Ok(Self {
            smtp,
            from: Some(from),
            sms: config
                .sms_url
                .clone()
                .map(|u| (u, config.sms_token.clone(), config.sms_from.clone())),
            http,
        })
    }

    /// Sends an e-mail job's message (skipped, with a line in the log, without a server).
    pub async fn send_email(&self, payload: &serde_json::Value) -> Result<(), String> {
        let mail: Email = serde_json::from_value(payload.clone())
            .map_err(|e| format!("not an e-mail job: {e}"))?;
        let (Some(smtp), Some(from)) = (&self.smtp, &self.from) else {
            tracing::info!("no hub.smtp_url: e-mail not sent");
            return Ok(());
        };
        let to = mail
            .to
            .parse()
            .map_err(|e| format!("recipient {}: {e}", mail.to))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)
            .map_err(|e| e.to_string())?;
        smtp.send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    /// Sends an SMS job's text through the provider (skipped, with a line in the log, without
    /// one).
    pub async fn send_sms(&self, payload: &serde_json::Value) -> Result<(), String> {
        let sms: Sms =
            serde_json::from_value(payload.clone()).map_err(|e| format!("not an SMS job: {e}"))?;
        let Some((url, token, from)) = &self.sms else {
            tracing::info!("no hub.sms_url: SMS not sent");
            return Ok(());
        };
        let to: String = sms
            .to
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let mut r = self.http.post(url).json(&serde_json::json!({
            "to": to,
            "from": from,
            "text": sms.text,
        }));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let answer = r.send().await.map_err(|e| format!("SMS provider: {e}"))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("SMS provider answered {}", answer.status()))
        }
    }
}

/// Registers the e-mail and SMS jobs with the job runner, sent through `notifier`.
pub fn register(registry: &mut Registry, notifier: Notifier) {
    let mail = notifier.clone();
    registry.register(EMAIL, move |job| {
        let mail = mail.clone();
        async move { mail.send_email(&job.payload).await }
    });
    registry.register(SMS, move |job| {
        let sms = notifier.clone();
        async move { sms.send_sms(&job.payload).await }
    });
}

/// What happened to a request, for its notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Filed with its protocol; the sede promised an answer by this day.
    Received(chrono::NaiveDate),
    /// The sede replied.
    Replied,
    /// The sede took it in charge.
    TakenInCharge,
    /// The sede closed it.
    Closed,
    /// Past its sede's promise by the margin: an appointment is offered, at the first free
    /// slot when there is one.
    Late(Option<chrono::NaiveDateTime>),
}

impl Event {
    /// The SMS of the events whose words do not fit the common one in 160 characters.
    fn sms(self, sede: &str, protocol: &str) -> Option<String> {
        match self {
            Event::Received(due) => Some(format!(
                "INPS {sede}: richiesta {protocol} ricevuta, risposta entro il {}.",
                due.format("%d/%m/%Y")
            )),
            Event::Late(slot) => Some(format!(
                "INPS {sede}: richiesta {protocol} in ritardo. Le offriamo un appuntamento{} \
                 al chiosco.",
                slot.map(|t| format!(" (primo libero {})", t.format("%d/%m %H:%M")))
                    .unwrap_or_default()
            )),
            _ => None,
        }
    }

    fn words(self) -> String {
        match self {
            Event::Received(due) => format!(
                "è stata ricevuta: la sede si impegna a rispondere entro il {}",
                due.format("%d/%m/%Y")
            ),
            Event::Replied => "ha una risposta della sede".into(),
            Event::TakenInCharge => "è stata presa in carico".into(),
            Event::Closed => "è stata chiusa".into(),
            Event::Late(Some(slot)) => format!(
                "aspetta ancora una risposta oltre il termine: la sede le offre un appuntamento, \
                 il primo libero è {}; lo prenoti al chiosco della sede",
                domain::italian_when(slot)
            ),
            Event::Late(None) => "aspetta ancora una risposta oltre il termine: \
                 la sede le offre un appuntamento, da prenotare al chiosco della sede"
                .into(),
        }
    }
}

/// Queues the e-mail and SMS of `event` for the request `(branch, id)`, to whatever contact
/// the visitor left with it. Call inside the transaction that records the event.
pub async fn queue(
    tx: &impl GenericClient,
    branch: i32,
    request: i64,
    event: Event,
) -> Result<(), HubError> {
    let Some(r) = tx
        .query_opt(
            "SELECT r.protocol, NULL, r.email, r.mobile, coalesce(b.name, '')
             FROM contact_request r LEFT JOIN branch b ON b.branch_id = r.branch_id
             WHERE r.branch_id = $1 AND r.id = $2",
            &[&branch, &request],
        )
        .await?
    else {
        return Ok(());
    };
    let target = Target {
        noun: "richiesta",
        protocol: r.get(0),
        // The subject is the visitor's own words: never in a message the hub sends.
        what: None,
        email: r.get(2),
        mobile: r.get(3),
        sede: r.get(4),
    };
    let sms = event.sms(&target.sede, &target.protocol);
    queue_target(tx, branch, &target, &event.words(), sms).await
}

/// Queues the notifications of an istanza's new `state`.
pub async fn queue_istanza(
    tx: &impl GenericClient,
    branch: i32,
    istanza: i64,
    state: &str,
) -> Result<(), HubError> {
    let Some(r) = tx
        .query_opt(
            "SELECT i.protocol, i.code, i.email, i.mobile, coalesce(b.name, '')
             FROM istanza i LEFT JOIN branch b ON b.branch_id = i.branch_id
             WHERE i.branch_id = $1 AND i.id = $2",
            &[&branch, &istanza],
        )
        .await?
    else {
        return Ok(());
    };
    let code: String = r.get(1);
    let target = Target {
        noun: "istanza",
        protocol: r.get(0),
        what: Some(domain::istanze::modulo(&code).map_or(code.clone(), |m| m.title.to_owned())),
        email: r.get(2),
        mobile: r.get(3),
        sede: r.get(4),
    };
    let words = match state {
        "inviata" => "è stata ricevuta",
        "protocollata" => "è stata protocollata",
        "in_istruttoria" => "è in istruttoria",
        "accolta" => "è stata accolta",
        "accolta_parzialmente" => "è stata accolta in parte",
        _ => "è stata respinta",
    };
    queue_target(tx, branch, &target, words, None).await
}

/// Whom to tell about what.
struct Target {
    /// `richiesta` or `istanza`.
    noun: &'static str,
    protocol: String,
    /// The istanza's title, from the catalogue; nothing the visitor typed.
    what: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    sede: String,
}

async fn queue_target(
    tx: &impl GenericClient,
    branch: i32,
    t: &Target,
    words: &str,
    sms: Option<String>,
) -> Result<(), HubError> {
    let Target {
        noun,
        protocol,
        what,
        sede,
        ..
    } = t;
    let what = what
        .as_ref()
        .map(|w| format!(" («{w}»)"))
        .unwrap_or_default();
    let body = format!(
        "Buongiorno,\n\nla sua {noun} {protocol}{what} alla sede INPS di {sede} {words}.\n\n\
         Può leggerla, con le risposte della sede, al chiosco della sede (Il mio Cassetto) \
         o nel Cassetto previdenziale.\n\n\
         Questo è un messaggio automatico: non risponda a questo indirizzo.\n"
    );
    queue_texts(
        tx,
        branch,
        t.email.as_deref(),
        t.mobile.as_deref(),
        &format!("INPS – {noun} {protocol}: {words}"),
        &body,
        &sms.unwrap_or_else(|| {
            format!(
                "INPS {sede}: la {noun} {protocol} {words}. Dettagli al chiosco della sede o nel Cassetto."
            )
        }),
    )
    .await
}

/// Queues an e-mail to `email` and an SMS to `mobile` (each when given), to go now.
pub async fn queue_texts(
    tx: &impl GenericClient,
    branch: i32,
    email: Option<&str>,
    mobile: Option<&str>,
    subject: &str,
    body: &str,
    sms: &str,
) -> Result<(), HubError> {
    let now = chrono::Utc::now();
    if let Some(to) = email {
        let mail = Email {
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
        };
        jobs::enqueue(
            tx,
            EMAIL,
            Some(branch),
            serde_json::to_value(mail).map_err(|e| HubError::internal("e-mail job", e))?,
            now,
            None,
        )
        .await?;
    }
    if let Some(to) = mobile {
        let sms = Sms {
            to: to.to_owned(),
            text: sms.to_owned(),
        };
        jobs::enqueue(
            tx,
            SMS,
            Some(branch),
            serde_json::to_value(sms).map_err(|e| HubError::internal("SMS job", e))?,
            now,
            None,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn the_promise_and_the_offer_fit_one_sms_for_the_longest_sede() {
        // The longest name in the table of sedi and a protocol of the widest form.
        let sede = "Barcellona Pozzo di Gotto";
        let protocol = "INPS.9999.31/12/2026.9999999";
        let due = chrono::NaiveDate::from_ymd_opt(2027, 1, 29).unwrap();
        let slot = due.and_hms_opt(14, 30, 0);
        for event in [Event::Received(due), Event::Late(slot), Event::Late(None)] {
            let sms = event.sms(sede, protocol).unwrap();
            assert!(
                sms.chars().count() <= 160,
                "{} chars: {sms}",
                sms.chars().count()
            );
            assert!(sms.contains(protocol), "{sms}");
        }
        assert!(
            Event::Received(due)
                .sms(sede, protocol)
                .unwrap()
                .contains("29/01/2027")
        );
        assert!(
            Event::Late(slot)
                .sms(sede, protocol)
                .unwrap()
                .contains("29/01 14:30")
        );
    }
}
