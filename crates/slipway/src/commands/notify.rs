//! Sends an event to the project's notification channels and says how each went, on stderr.
//! A channel that fails never changes the command's outcome. The events themselves are built
//! by `slipway_notify::events`.

use slipway_core::Manifest;
use slipway_core::manifest::EventKind;
use slipway_notify::Event;

use super::Output;

/// Tells the channels that take `kind` (of `only`, when given) an event with this title and
/// these facts, as of now. Quiet when there are none.
pub fn notify(
    manifest: &Manifest,
    kind: EventKind,
    environment: Option<&str>,
    title: String,
    facts: Vec<(String, String)>,
    only: Option<&[String]>,
    output: Output,
) {
    let event = slipway_notify::events::event(
        &manifest.project.name,
        kind,
        environment,
        title,
        facts,
        now(),
    );
    send(manifest, &event, only, output);
}

/// The time events are stamped with.
pub fn now() -> String {
    slipway_core::time::rfc3339(slipway_core::time::now())
}

/// Tells the channels that take `event` (of `only`, when given). Quiet when there are none.
pub fn send(manifest: &Manifest, event: &Event, only: Option<&[String]>, output: Output) {
    let kind = event.kind;
    if slipway_notify::channels_for(manifest, kind, only).is_empty() {
        return;
    }
    // Callers run inside and outside async code: the sends get a thread and runtime of their own.
    let deliveries = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|runtime| runtime.block_on(slipway_notify::send(manifest, event, only)))
            })
            .join()
    });
    let Ok(Ok(deliveries)) = deliveries else {
        eprintln!("warning: notifications not sent: cannot start the async runtime");
        return;
    };
    for delivery in deliveries {
        match (&delivery.error, output) {
            (None, Output::Text) => eprintln!(
                "  notified {} ({})",
                delivery.channel,
                slipway_notify::event_name(kind)
            ),
            (None, Output::Json) => {}
            (Some(error), _) if delivery.attempts == 0 => eprintln!(
                "warning: notification channel `{}` skipped: {error}",
                delivery.channel
            ),
            (Some(error), _) => eprintln!(
                "warning: notification to `{}` failed after {} attempt(s): {error}",
                delivery.channel, delivery.attempts
            ),
        }
    }
}
