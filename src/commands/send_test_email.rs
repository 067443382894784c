//! `hoss send-test-email --to ADDR`: one message through the effective
//! mailer, recorded in the ledger as a test, reporting the real outcome.

use serde::Serialize;

use crate::app::Ctx;
use crate::commands::mail::{
    log_result, log_suppressed, log_throttled, sender, sender_problem, sender_problem_exit,
    simulate_send,
};
use crate::config::EmailMode;
use crate::db::outbox;
use crate::db::outbox::{Kind, Reservation, Target};
use crate::domain::address::normalize_email;
use crate::domain::compose;
use crate::domain::delivery::Delivery;
use crate::error::{EXIT_DATA, EXIT_OK, EXIT_TEMPFAIL, Error, Result};
use crate::render::Report;

#[derive(Debug, Serialize)]
pub struct TestReport {
    pub to: String,
    pub mode: String,
    /// `sent|dry_run|failed|uncertain|throttled|suppressed`
    pub outcome: String,
    pub success: bool,
    /// A failure that may clear up by itself (retry later).
    pub transient: bool,
    pub error: Option<String>,
    pub message_id: Option<String>,
    /// `config_error` (exit 78) or `unreachable` (exit 75): the sender's side.
    pub sender_problem: Option<&'static str>,
}

impl Report for TestReport {
    /// Sent or simulated: 0; worth retrying later: 75; refused: 65.
    fn exit_code(&self) -> i32 {
        if self.sender_problem.is_some() {
            return sender_problem_exit(self.sender_problem);
        }
        match self.outcome.as_str() {
            "sent" | "dry_run" => EXIT_OK,
            "throttled" | "uncertain" => EXIT_TEMPFAIL,
            _ if self.transient => EXIT_TEMPFAIL,
            _ => EXIT_DATA,
        }
    }

    fn human(&self, _terminal: bool) -> String {
        let mut s = format!(
            "test email to {} via {}: {}\n",
            self.to, self.mode, self.outcome
        );
        if let Some(e) = &self.error {
            s.push_str(&format!("  error: {e}\n"));
        }
        if self.outcome == "dry_run" {
            s.push_str("  (DRY_RUN: nothing was sent; see the [EMAIL][DRY_RUN] log line)\n");
        }
        s
    }
}

pub fn run(ctx: &Ctx, to: &str) -> Result<TestReport> {
    let to = normalize_email(to)
        .ok_or_else(|| Error::Data(format!("{to:?} is not a valid e-mail address")))?;
    let cfg = &ctx.config.email;
    let mut mailer = ctx.mailer();
    let mode = mailer.mode();
    let message = compose::message(
        &sender(ctx),
        &to,
        "[TEST] hoss email check",
        &format!(
            "This is a test message from hoss.\n\nIf you can read it, {} sending works: from {}, replies to {}.",
            mode.as_str(),
            cfg.from_email,
            cfg.reply_to
        ),
    );
    let target = Target {
        kind: Kind::Test,
        lead_id: None,
        step: outbox::FIRST_STEP,
        recipient: &to,
    };
    let report = |outcome: &str, error: Option<String>, message_id| TestReport {
        to: to.clone(),
        mode: mode.as_str().into(),
        outcome: outcome.into(),
        success: matches!(outcome, "sent" | "dry_run"),
        transient: false,
        error,
        message_id,
        sender_problem: None,
    };
    if mode == EmailMode::DryRun {
        simulate_send(ctx, mailer.as_mut(), &target, &message)?;
        return Ok(report("dry_run", None, None));
    }
    let reservation = ctx.db().immediate(|tx| {
        outbox::reserve(
            tx,
            &target,
            mode.as_str(),
            &outbox::Claim::OPERATOR,
            ctx.now(),
        )
    })?;
    let ledger_id = match reservation {
        Reservation::Reserved { ledger_id, .. } => ledger_id,
        Reservation::Suppressed { reason } => {
            log_suppressed(None, &to, &reason);
            return Ok(report("suppressed", Some(reason), None));
        }
        Reservation::Throttled { count } => {
            log_throttled(ctx, count);
            return Ok(report(
                "throttled",
                Some("hourly limit reached".into()),
                None,
            ));
        }
        Reservation::Gone
        | Reservation::Held { .. }
        | Reservation::DailyCap { .. }
        | Reservation::DomainCap { .. } => {
            return Err(Error::Internal("test reservation vanished".into()));
        }
    };
    let result = mailer.send(&message);
    log_result(None, &message, &result);
    ctx.db().immediate(|tx| {
        Ok(outbox::finish(
            tx,
            ledger_id,
            None,
            &message.subject,
            &result,
            ctx.now(),
        )?)
    })?;
    let outcome = match result.delivery {
        Delivery::Sent => "sent",
        Delivery::Uncertain => "uncertain",
        _ => "failed",
    };
    Ok(TestReport {
        transient: result.delivery == Delivery::Transient,
        sender_problem: sender_problem(result.delivery),
        ..report(outcome, result.error, result.message_id)
    })
}
