//! Events to containerd: `Forward` on its ttrpc events service, one thread, in order.
//!
//! Not the crate's RemotePublisher: that names each event's type through protobuf
//! reflection, which builds the descriptors of containerd's whole events API (with
//! descriptor.proto) in every shim, a few hundred KiB of heap. The type URLs are fixed, so
//! the envelope is built here from the encoded message. The client reconnects (once per
//! event) after a containerd restart.

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::events::{Envelope, ForwardRequest};
use containerd_shim::protos::shim::events_ttrpc::EventsClient;
use containerd_shim::protos::ttrpc::Client;
use containerd_shim::Context;
use std::sync::mpsc::Receiver;

/// An event ready to send: topic, protobuf type name, encoded message.
pub struct Encoded {
    pub topic: String,
    pub type_name: &'static str,
    pub value: Vec<u8>,
}

fn client(address: &str) -> Option<EventsClient> {
    let fd = containerd_shim::util::connect(address).ok()?;
    Client::new(fd).ok().map(EventsClient::new)
}

/// Publishes what arrives on `rx` until every sender is gone; `done` runs after each.
pub fn run(address: String, namespace: String, rx: Receiver<Encoded>, done: impl Fn()) {
    let mut events = client(&address);
    for ev in rx {
        let req = ForwardRequest {
            envelope: MessageField::some(Envelope {
                timestamp: MessageField::some(
                    containerd_shim::util::timestamp().unwrap_or_default(),
                ),
                namespace: namespace.clone(),
                topic: ev.topic.clone(),
                event: MessageField::some(Any {
                    type_url: ev.type_name.to_owned(),
                    value: ev.value,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sent = events
            .as_ref()
            .is_some_and(|c| c.forward(Context::default(), &req).is_ok());
        if !sent {
            // containerd restarted: its ttrpc socket is new.
            events = client(&address);
            match &events {
                Some(c) => {
                    if let Err(e) = c.forward(Context::default(), &req) {
                        log::warn!("publish {}: {e}", ev.topic);
                    }
                }
                None => log::warn!("publish {}: cannot connect to {address}", ev.topic),
            }
        }
        done();
    }
}

/// The protobuf full name of each task event, by topic.
pub fn type_name(topic: &str) -> &'static str {
    match topic {
        "/tasks/create" => "containerd.events.TaskCreate",
        "/tasks/start" => "containerd.events.TaskStart",
        "/tasks/exit" => "containerd.events.TaskExit",
        "/tasks/delete" => "containerd.events.TaskDelete",
        "/tasks/exec-added" => "containerd.events.TaskExecAdded",
        "/tasks/exec-started" => "containerd.events.TaskExecStarted",
        "/tasks/paused" => "containerd.events.TaskPaused",
        "/tasks/resumed" => "containerd.events.TaskResumed",
        "/tasks/oom" => "containerd.events.TaskOOM",
        _ => "",
    }
}

/// Encodes an event for the channel.
pub fn encode<E: containerd_shim::event::Event + Message>(e: &E) -> Encoded {
    let topic = e.topic();
    Encoded {
        type_name: type_name(&topic),
        value: e.write_to_bytes().unwrap_or_default(),
        topic,
    }
}
