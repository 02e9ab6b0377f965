//! The handshake between nsbox (on the host) and the container's init.
//!
//! One `SOCK_SEQPACKET` socket pair carries one small message per protocol
//! step, so a message is never split or merged. The steps are:
//!
//! 1. host → init: [`Channel::release`] once the init's cgroup and network
//!    link exist, so it runs no code of the container's before its limits hold;
//! 2. init → host: [`Channel::report_started`] once the command was executed
//!    (passing the pseudo-terminal's master when there is one), or
//!    [`Channel::report_failure`] with why the start failed.
//!
//! Either side seeing the socket close learns that the other side is gone.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

/// A handshake failure: the socket broke or a message made no sense.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A system call on the socket failed.
    #[error("handshake with the container's init failed while {doing}")]
    Socket {
        /// What was being done.
        doing: &'static str,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// The other side closed the socket without saying anything.
    #[error("the other side of the handshake exited while {0}")]
    Closed(&'static str),
    /// A message arrived that does not fit the protocol.
    #[error("unexpected handshake message while {0}")]
    Unexpected(&'static str),
}

/// What the init tells the host after it tried to start the command.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Outcome {
    /// The command is running; a pseudo-terminal master travels with this.
    Started,
    /// The start failed; nsbox exits with `exit_code` and prints `message`.
    Failed {
        /// 125, 126 or 127, as for a failure caught on the host.
        exit_code: i32,
        /// One line naming what failed.
        message: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
enum Message {
    Release,
    Outcome(Outcome),
}

/// One end of the handshake socket.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// Makes the socket pair: the first end stays with the host, the second goes
/// to the init. Both are close-on-exec so neither reaches the command.
pub fn pair() -> Result<(Channel, Channel), SyncError> {
    let (host, init) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|source| SyncError::Socket {
        doing: "creating the socket pair",
        source,
    })?;
    Ok((Channel { fd: host }, Channel { fd: init }))
}

impl std::os::fd::AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl Channel {
    /// Host side: let the init go on with the setup.
    pub fn release(&self) -> Result<(), SyncError> {
        self.send(&Message::Release, None, "releasing the init")
    }

    /// Init side: wait until the host released us.
    pub fn wait_release(&self) -> Result<(), SyncError> {
        match self.recv("waiting for the host")? {
            (Message::Release, _) => Ok(()),
            _ => Err(SyncError::Unexpected("waiting for the host")),
        }
    }

    /// Init side: the command runs; hand over the terminal master if any.
    pub fn report_started(&self, pty_master: Option<BorrowedFd<'_>>) -> Result<(), SyncError> {
        let msg = Message::Outcome(Outcome::Started);
        self.send(&msg, pty_master, "reporting the start")
    }

    /// Init side: the start failed.
    pub fn report_failure(&self, exit_code: i32, message: String) -> Result<(), SyncError> {
        let msg = Message::Outcome(Outcome::Failed { exit_code, message });
        self.send(&msg, None, "reporting a failure")
    }

    /// Host side: wait for the init's outcome, with the terminal master if
    /// it sent one.
    pub fn wait_outcome(&self) -> Result<(Outcome, Option<OwnedFd>), SyncError> {
        match self.recv("waiting for the container to start")? {
            (Message::Outcome(outcome), fd) => Ok((outcome, fd)),
            _ => Err(SyncError::Unexpected("waiting for the container to start")),
        }
    }

    fn send(
        &self,
        msg: &Message,
        fd: Option<BorrowedFd<'_>>,
        doing: &'static str,
    ) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec(msg).expect("handshake messages always serialise");
        let iov = [IoSlice::new(&bytes)];
        let raw = fd.map(|fd| [fd.as_raw_fd()]);
        let cmsgs: Vec<ControlMessage<'_>> = raw
            .iter()
            .map(|fds| ControlMessage::ScmRights(fds))
            .collect();
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| SyncError::Socket { doing, source })?;
        Ok(())
    }

    fn recv(&self, doing: &'static str) -> Result<(Message, Option<OwnedFd>), SyncError> {
        let mut buf = vec![0u8; 4096];
        let mut cmsg_space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let flags = MsgFlags::MSG_CMSG_CLOEXEC;
            match recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut cmsg_space), flags) {
                Err(nix::Error::EINTR) => continue,
                Err(source) => return Err(SyncError::Socket { doing, source }),
                Ok(msg) => {
                    let fd = msg
                        .cmsgs()
                        .ok()
                        .into_iter()
                        .flatten()
                        .find_map(|c| match c {
                            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                            _ => None,
                        });
                    // SAFETY: SCM_RIGHTS just gave this process a new
                    // descriptor that nothing else owns.
                    let fd = fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
                    break (msg.bytes, fd);
                }
            }
        };
        if len == 0 {
            return Err(SyncError::Closed(doing));
        }
        let msg = serde_json::from_slice(&buf[..len]).map_err(|_| SyncError::Unexpected(doing))?;
        Ok((msg, fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_then_outcome_with_a_descriptor() {
        let (host, init) = pair().unwrap();
        host.release().unwrap();
        init.wait_release().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        init.report_started(Some(std::os::fd::AsFd::as_fd(&file)))
            .unwrap();
        let (outcome, fd) = host.wait_outcome().unwrap();
        assert_eq!(outcome, Outcome::Started);
        assert!(fd.is_some());
        init.report_failure(127, "no".into()).unwrap();
        let (outcome, fd) = host.wait_outcome().unwrap();
        assert_eq!(
            outcome,
            Outcome::Failed {
                exit_code: 127,
                message: "no".into()
            }
        );
        assert!(fd.is_none());
        drop(init);
        assert!(matches!(host.wait_outcome(), Err(SyncError::Closed(_))));
    }
}
