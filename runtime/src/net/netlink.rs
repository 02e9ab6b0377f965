//! A tiny synchronous rtnetlink client.
//!
//! A socket talks to the network namespace of the thread that opened it, so
//! the parent opens one on the host and the container's init opens its own
//! after it is inside the new namespace. Requests are sent one at a time and
//! each waits for the kernel's answer; nothing here keeps state between calls
//! except the sequence counter.

use std::io;
use std::time::Instant;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use nix::errno::Errno;

use super::ext_ack::ext_ack_message;
use super::NetError;

/// Large enough for any datagram the kernel sends: it caps dump datagrams at
/// 32 KiB.
const RECV_BUFFER: usize = 64 * 1024;

/// How often a dump is repeated when the kernel says it was interrupted by a
/// concurrent change.
const DUMP_ATTEMPTS: usize = 3;

/// An open rtnetlink socket in the current network namespace.
pub(crate) struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// One decoded message of an answer.
enum Answer {
    Message(RouteNetlinkMessage),
    Ack,
    Refused(Errno, Option<String>),
    Done(i32),
}

impl Netlink {
    /// Open a socket in the network namespace of the calling thread.
    pub(crate) fn open() -> Result<Self, NetError> {
        let socket = Socket::new(NETLINK_ROUTE).map_err(NetError::Socket)?;
        // Best effort: older kernels lack these, and errors still arrive
        // without them, only with less detail.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Netlink {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Send a request that changes something and wait for the kernel's ack.
    ///
    /// `request` says what is asked, in words; it names the request in the
    /// debug trail and in the error. `flags` are added to
    /// `NLM_F_REQUEST | NLM_F_ACK`.
    pub(crate) fn execute(
        &mut self,
        request: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetError> {
        let started = Instant::now();
        let seq = self.send(request, message, NLM_F_REQUEST | NLM_F_ACK | flags)?;
        let outcome = 'wait: loop {
            for answer in self.receive(request, seq)?.0 {
                match answer {
                    Answer::Ack => break 'wait Ok(()),
                    Answer::Refused(errno, detail) => break 'wait Err((errno, detail)),
                    _ => {}
                }
            }
        };
        trace(request, started, outcome.as_ref().err().map(|e| e.0));
        outcome.map_err(|(errno, detail)| refused(request, errno, detail))
    }

    /// Ask for one object (a non-dump `RTM_GET*`) and return the answer.
    pub(crate) fn get(
        &mut self,
        request: &str,
        message: RouteNetlinkMessage,
    ) -> Result<RouteNetlinkMessage, NetError> {
        let started = Instant::now();
        let seq = self.send(request, message, NLM_F_REQUEST)?;
        let outcome = 'wait: loop {
            for answer in self.receive(request, seq)?.0 {
                match answer {
                    Answer::Message(found) => break 'wait Ok(found),
                    Answer::Refused(errno, detail) => break 'wait Err((errno, detail)),
                    _ => {}
                }
            }
        };
        trace(request, started, outcome.as_ref().err().map(|e| e.0));
        outcome.map_err(|(errno, detail)| refused(request, errno, detail))
    }

    /// Dump a table (`RTM_GET*` with `NLM_F_DUMP`) and return every entry.
    pub(crate) fn dump(
        &mut self,
        request: &str,
        message: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetError> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let seq = self.send(request, message.clone(), NLM_F_REQUEST | NLM_F_DUMP)?;
            let (found, interrupted) = self.collect_dump(request, seq)?;
            if !interrupted || attempt == DUMP_ATTEMPTS {
                trace(request, started, None);
                return Ok(found);
            }
            attempt += 1;
        }
    }

    fn collect_dump(
        &mut self,
        request: &str,
        seq: u32,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), NetError> {
        let mut found = Vec::new();
        let mut interrupted = false;
        loop {
            let (answers, intr) = self.receive(request, seq)?;
            interrupted |= intr;
            for answer in answers {
                match answer {
                    Answer::Message(message) => found.push(message),
                    Answer::Done(code) if code < 0 => {
                        return Err(refused(request, Errno::from_raw(-code), None))
                    }
                    Answer::Done(_) => return Ok((found, interrupted)),
                    Answer::Refused(errno, detail) => return Err(refused(request, errno, detail)),
                    Answer::Ack => {}
                }
            }
        }
    }

    fn send(
        &mut self,
        request: &str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<u32, NetError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket
            .send(&bytes, 0)
            .map_err(|source| transport(request, source))?;
        Ok(self.seq)
    }

    /// Read one datagram and decode the messages that answer `seq`. The flag
    /// says whether any of them reported an interrupted dump.
    fn receive(&mut self, request: &str, seq: u32) -> Result<(Vec<Answer>, bool), NetError> {
        let len = self
            .socket
            .recv(&mut &mut self.buf[..], libc::MSG_TRUNC)
            .map_err(|source| transport(request, source))?;
        if len > self.buf.len() {
            let source = io::Error::other(format!("answer of {len} bytes was truncated"));
            return Err(transport(request, source));
        }
        let mut answers = Vec::new();
        let mut interrupted = false;
        let mut offset = 0;
        while offset < len {
            let decoded =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[offset..len])
                    .map_err(|source| NetError::Decode {
                        request: request.to_owned(),
                        source,
                    })?;
            let size = decoded.header.length as usize;
            offset += size.max(1).next_multiple_of(4);
            if decoded.header.sequence_number != seq {
                continue;
            }
            interrupted |= decoded.header.flags & NLM_F_DUMP_INTR != 0;
            answers.push(match decoded.payload {
                NetlinkPayload::InnerMessage(message) => Answer::Message(message),
                NetlinkPayload::Error(err) => match err.code {
                    None => Answer::Ack,
                    Some(code) => Answer::Refused(
                        Errno::from_raw(-code.get()),
                        ext_ack_message(decoded.header.flags, &err.header),
                    ),
                },
                NetlinkPayload::Done(done) => Answer::Done(done.code),
                _ => continue,
            });
        }
        Ok((answers, interrupted))
    }
}

fn refused(request: &str, errno: Errno, detail: Option<String>) -> NetError {
    NetError::Netlink {
        request: request.to_owned(),
        errno,
        detail,
    }
}

fn transport(request: &str, source: io::Error) -> NetError {
    NetError::Transport {
        request: request.to_owned(),
        source,
    }
}

/// The debug trail: one line per request, with its outcome and duration.
fn trace(request: &str, started: Instant, errno: Option<Errno>) {
    let micros = started.elapsed().as_micros();
    match errno {
        None => tracing::debug!("netlink: {request}: ok in {micros} µs"),
        Some(errno) => tracing::debug!("netlink: {request}: {errno} in {micros} µs"),
    }
}
