//! The address checks a send meets (SPEC §15), after the lead was created:
//! a role account waits for `SEND_TO_ROLE_ACCOUNTS=TRUE`; a disposable-mail
//! domain (a lead stored before the list refused it) and a domain without a
//! mail route make the lead `invalid`. The mail route is asked of DNS once
//! per domain in 7 days, before a real send only; an unanswered question is
//! transient: the lead waits.

use log::warn;

use crate::app::Ctx;
use crate::clock::rfc3339;
use crate::commands::discipline::Block;
use crate::db::{self, leads::Lead, routes};
use crate::domain::address::{disposable, email_domain, is_reserved_domain};
use crate::error::Result;
use crate::services::dns::Resolver;

/// What the address checks say about one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// A role account, not emailed unless `SEND_TO_ROLE_ACCOUNTS=TRUE`.
    Role,
    /// No answer from DNS about the domain: the lead waits. `asked`: this
    /// check asked DNS (else a domain left alone since an earlier failure,
    /// until `until`).
    Wait {
        reason: String,
        until: Option<i64>,
        asked: bool,
    },
    /// The address cannot receive mail (the reason): the lead is `invalid`.
    Refused {
        reason: String,
        no_mx: bool,
    },
}

/// The checks of one pass; the resolver is made on the first question.
#[derive(Default)]
pub struct AddressGate {
    resolver: Option<Resolver>,
}

impl AddressGate {
    /// Whether the resolver stopped answering this pass: every unchecked
    /// domain would only wait.
    pub fn resolver_down(&self) -> bool {
        self.resolver.as_ref().is_some_and(Resolver::is_down)
    }

    /// The checks of a real send to `lead`, DNS included.
    pub fn check(&mut self, ctx: &Ctx, lead: &Lead) -> Result<Gate> {
        if let Some(gate) = offline(ctx, lead)? {
            return Ok(gate);
        }
        // `offline` answered when the check is off.
        let d = &ctx.config.email.deliverability;
        let domain = email_domain(&lead.email);
        if is_reserved_domain(domain) {
            return Ok(Gate::Open);
        }
        let resolver = self
            .resolver
            .get_or_insert_with(|| Resolver::new(d.dns_server));
        match resolver.mail_route(domain) {
            Err(reason) => {
                // Taken as the domain's own failure unless the resolver
                // has failed twice in a row (then it is the resolver's):
                // left alone for an hour, so the next pass moves on.
                let until = (!resolver.is_down())
                    .then(|| routes::wait(ctx.db(), domain, &reason, ctx.now()))
                    .transpose()?
                    .map(|()| ctx.now() + routes::WAIT_SECS);
                Ok(Gate::Wait {
                    reason,
                    until,
                    asked: true,
                })
            }
            Ok(route) => {
                let detail = route.detail();
                routes::remember(ctx.db(), domain, route.accepts_mail(), &detail, ctx.now())?;
                Ok(if route.accepts_mail() {
                    Gate::Open
                } else {
                    no_route(&detail)
                })
            }
        }
    }

    /// Applies a refusal: the lead becomes `invalid` with the reason (unless
    /// it has moved on since), its sequence stops, and the log says why.
    pub fn refuse(ctx: &Ctx, lead: &Lead, reason: &str, no_mx: bool) -> Result<()> {
        let now = ctx.now();
        ctx.db().immediate(|tx| {
            db::leads::invalidate(tx, lead.id, reason)?;
            db::sequences::stop(tx, lead.id, reason, now)?;
            Ok(())
        })?;
        if no_mx {
            warn!(
                "[EMAIL][NO_MX] domain={} lead_id={} detail={reason:?}",
                email_domain(&lead.email),
                lead.id
            );
        } else {
            warn!("[EMAIL][INVALID] lead_id={} reason={reason:?}", lead.id);
        }
        Ok(())
    }
}

fn no_route(detail: &str) -> Gate {
    Gate::Refused {
        reason: format!("no mail route: {detail}"),
        no_mx: true,
    }
}

/// What is known without asking DNS: the role account, a disposable-mail
/// domain, and a remembered answer for the domain (`None`: nothing known).
fn offline(ctx: &Ctx, lead: &Lead) -> Result<Option<Gate>> {
    let d = &ctx.config.email.deliverability;
    if lead.role && !d.send_to_role_accounts {
        return Ok(Some(Gate::Role));
    }
    let domain = email_domain(&lead.email);
    if let Some(listed) = disposable(domain) {
        return Ok(Some(Gate::Refused {
            reason: format!("disposable-mail domain ({listed})"),
            no_mx: false,
        }));
    }
    if !d.mx_check {
        return Ok(Some(Gate::Open));
    }
    if let Some(route) = routes::fresh(ctx.db(), domain, ctx.now())? {
        return Ok(Some(match route.accepts {
            true => Gate::Open,
            false => no_route(&route.detail),
        }));
    }
    Ok(
        routes::waiting(ctx.db(), domain, ctx.now())?.map(|(until, reason)| Gate::Wait {
            reason: format!(
                "DNS gave no answer about {domain} ({reason}); asked again after {}",
                rfc3339(until)
            ),
            until: Some(until),
            asked: false,
        }),
    )
}

/// The rules `why` and `plan` show for `lead`'s address (`role`,
/// `no_mx`), from what is known without asking DNS.
pub fn blocks(ctx: &Ctx, lead: &Lead) -> Result<Vec<Block>> {
    Ok(match offline(ctx, lead)? {
        Some(Gate::Role) => vec![Block::new(
            "role",
            format!(
                "{} is a role account: not emailed unless SEND_TO_ROLE_ACCOUNTS=TRUE",
                lead.email
            ),
        )],
        Some(Gate::Refused { reason, no_mx }) => {
            vec![Block::new(
                if no_mx { "no_mx" } else { "suppressed" },
                reason,
            )]
        }
        Some(Gate::Wait { reason, until, .. }) => vec![Block::until("no_mx", reason, until)],
        _ => Vec::new(),
    })
}
