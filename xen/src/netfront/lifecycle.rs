//! The netfront connection lifecycle as a pure state machine over xenbus states
//! (`io/xenbus.h`).
//!
//! Input: the backend's `state` key as read from xenstore (a state, gone, or garbage), a
//! report of how many grants are still mapped, or a timeout the caller measured. Output:
//! the [`Action`]s the driver must take, in order. The machine never does I/O and keeps no
//! clock. The protocol (Linux `netback_changed`, xen-netback `frontend_changed`):
//!
//! 1. Wait for the backend to reach `InitWait`; then [`Action::Connect`] (grant the rings,
//!    write `tx-ring-ref`, `rx-ring-ref`, `event-channel`, `request-rx-copy`,
//!    `feature-rx-notify` and our state `Connected` in one transaction).
//! 2. Wait for the backend's `Connected`: [`Action::StartRings`].
//! 3. When the backend goes `Closing` (or `Closed`, or is gone): stop posting
//!    ([`Action::StopRings`]), write `Closing` then `Closed` (netback releases the rings
//!    only once the frontend is `Closed`, as Linux's `xenbus_frontend_closed` does), and
//!    [`Action::EndGrants`] (close both queues, TX frames in flight counted lost, end every
//!    grant). A grant the backend still maps is ended again later
//!    ([`Action::RetryEndGrants`]) and its page is not reused until it is.
//! 4. A backend that shows up again in `Initialising`/`InitWait` (`xl network-attach`, or
//!    a new backend) gets a new connection from scratch: we write `Initialising`, then
//!    connect at `InitWait`.
//!
//! Garbage state values are reported ([`Action::Ignored`]) and change nothing; states that
//! go backwards while connected mean the backend lost the connection and are handled as a
//! close. Uses only `alloc`.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// C: `enum xenbus_state` (`io/xenbus.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum XenbusState {
    /// 0.
    Unknown,
    /// 1: setting up.
    Initialising,
    /// 2: early setup done, waiting for the peer's details.
    InitWait,
    /// 3: waiting for the peer to connect.
    Initialised,
    /// 4.
    Connected,
    /// 5: closing (an error or an unplug).
    Closing,
    /// 6.
    Closed,
    /// 7: reconfiguring (not used by netif).
    Reconfiguring,
    /// 8: reconfigured (not used by netif).
    Reconfigured,
}

/// A `state` value that is not a xenbus state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadState {
    /// Not a decimal number that fits a `u32` (`len` bytes).
    NotANumber {
        /// Length of the value.
        len: usize,
    },
    /// A number that names no state.
    OutOfRange {
        /// The number.
        value: u32,
    },
}

impl fmt::Display for BadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BadState::NotANumber { len } => write!(f, "state is not a number ({len} bytes)"),
            BadState::OutOfRange { value } => write!(f, "state {value} is not a xenbus state"),
        }
    }
}

impl core::error::Error for BadState {}

impl XenbusState {
    const ALL: [XenbusState; 9] = [
        XenbusState::Unknown,
        XenbusState::Initialising,
        XenbusState::InitWait,
        XenbusState::Initialised,
        XenbusState::Connected,
        XenbusState::Closing,
        XenbusState::Closed,
        XenbusState::Reconfiguring,
        XenbusState::Reconfigured,
    ];

    /// The state numbered `value`, if any.
    pub fn from_raw(value: u32) -> Option<XenbusState> {
        Self::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// Its number.
    pub fn raw(self) -> u32 {
        match self {
            XenbusState::Unknown => 0,
            XenbusState::Initialising => 1,
            XenbusState::InitWait => 2,
            XenbusState::Initialised => 3,
            XenbusState::Connected => 4,
            XenbusState::Closing => 5,
            XenbusState::Closed => 6,
            XenbusState::Reconfiguring => 7,
            XenbusState::Reconfigured => 8,
        }
    }

    /// The value to write to a `state` key (`"4"`).
    pub fn as_str(self) -> &'static str {
        ["0", "1", "2", "3", "4", "5", "6", "7", "8"]
            .get(usize::try_from(self.raw()).unwrap_or(0))
            .copied()
            .unwrap_or("0")
    }

    /// Parses a `state` value: decimal digits, optionally followed by NULs.
    ///
    /// # Errors
    /// Anything else, or a number that is not a state.
    pub fn parse(value: &[u8]) -> Result<XenbusState, BadState> {
        let digits = value
            .iter()
            .rposition(|&b| b != 0)
            .and_then(|last| value.get(..=last))
            .unwrap_or_default();
        let not_a_number = BadState::NotANumber { len: value.len() };
        if digits.is_empty() {
            return Err(not_a_number);
        }
        let mut n: u32 = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return Err(not_a_number);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u32::from(b.wrapping_sub(b'0'))))
                .ok_or(not_a_number)?;
        }
        XenbusState::from_raw(n).ok_or(BadState::OutOfRange { value: n })
    }
}

/// The backend's `state` key, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A valid state.
    State(XenbusState),
    /// The key (or the backend's directory) does not exist.
    Gone,
    /// A value that is not a state.
    Garbage(BadState),
}

impl Backend {
    /// From a read of the key: `None` when it does not exist.
    pub fn read(value: Option<&[u8]>) -> Backend {
        match value.map(XenbusState::parse) {
            None => Backend::Gone,
            Some(Ok(s)) => Backend::State(s),
            Some(Err(e)) => Backend::Garbage(e),
        }
    }
}

/// Why the frontend gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleError {
    /// The backend did not reach `waiting_for` in time.
    Timeout {
        /// The backend state we waited for.
        waiting_for: XenbusState,
        /// The backend's last valid state (`None`: gone or never read).
        backend: Option<XenbusState>,
    },
    /// Grants were still mapped when time ran out: leak their pages, never reuse them.
    StillMapped {
        /// How many.
        grants: usize,
    },
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LifecycleError::Timeout {
                waiting_for,
                backend,
            } => write!(
                f,
                "backend did not reach state {} (last: {})",
                waiting_for.raw(),
                backend.map_or("gone", XenbusState::as_str)
            ),
            LifecycleError::StillMapped { grants } => {
                write!(f, "{grants} grants still mapped by the backend")
            }
        }
    }
}

impl core::error::Error for LifecycleError {}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the backend's `InitWait` (our state: `Initialising`).
    WaitBackend,
    /// Rings granted, keys and `Connected` written; waiting for the backend's `Connected`.
    Connecting,
    /// Both sides connected: the rings are in use.
    Connected,
    /// The backend released the rings; ending grants.
    Releasing,
    /// We wrote `Closed`; waiting for a backend to appear again.
    Closed,
    /// Gave up.
    Failed(LifecycleError),
}

/// What the driver must do, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write our `state` key.
    WriteState(XenbusState),
    /// Set up from scratch: new queues over freshly initialised ring pages, grant rings
    /// and buffers, post the RX buffers, then write the ring refs, event channel and
    /// feature keys with our state `Connected` in one transaction.
    Connect,
    /// The backend is connected: start sending.
    StartRings,
    /// Stop posting RX buffers and sending ([`RxQueue::stop`](super::RxQueue::stop),
    /// [`TxQueue::stop`](super::TxQueue::stop)).
    StopRings,
    /// The backend released the rings: close both queues (TX frames in flight are lost),
    /// end every grant, and report how many are still mapped with
    /// [`Lifecycle::grants_ended`].
    EndGrants,
    /// Some grants are still mapped: later, end them again (never reuse their pages) and
    /// report with [`Lifecycle::grants_ended`].
    RetryEndGrants,
    /// The backend's state was garbage: log it; nothing changes.
    Ignored(BadState),
    /// Give up (the phase is now [`Phase::Failed`]); pages still granted stay unused.
    GiveUp(LifecycleError),
}

/// The frontend's side of the xenbus handshake for one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    phase: Phase,
    backend: Option<XenbusState>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    /// A device whose frontend `state` is `Initialising` (as the toolstack creates it) and
    /// whose backend has not been read yet.
    pub const fn new() -> Self {
        Lifecycle {
            phase: Phase::WaitBackend,
            backend: None,
        }
    }

    /// Where the connection is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The backend's last valid state (`None`: gone or not read yet).
    pub fn backend_state(&self) -> Option<XenbusState> {
        self.backend
    }

    /// The backend's `state` key was read (on a watch event or a poll).
    #[must_use]
    pub fn backend(&mut self, input: Backend) -> Vec<Action> {
        use XenbusState as S;
        let state = match input {
            Backend::Garbage(e) => return vec![Action::Ignored(e)],
            Backend::Gone => None,
            Backend::State(s) => Some(s),
        };
        self.backend = state;
        match (self.phase, state) {
            (Phase::Failed(_) | Phase::Releasing, _) => vec![],
            (Phase::WaitBackend, Some(S::InitWait | S::Initialised)) => {
                self.phase = Phase::Connecting;
                vec![Action::Connect]
            }
            (Phase::Connecting, Some(S::Connected)) => {
                self.phase = Phase::Connected;
                vec![Action::StartRings]
            }
            // Closing, closed or gone; or, once connected, a backend back at the start (a
            // new one).
            (Phase::Connecting | Phase::Connected, None | Some(S::Closing | S::Closed))
            | (Phase::Connected, Some(S::Initialising | S::InitWait)) => {
                self.phase = Phase::Releasing;
                vec![
                    Action::StopRings,
                    Action::WriteState(S::Closing),
                    Action::WriteState(S::Closed),
                    Action::EndGrants,
                ]
            }
            (Phase::Closed, Some(S::Initialising | S::InitWait | S::Initialised)) => {
                self.reconnect()
            }
            _ => vec![],
        }
    }

    /// Reports the outcome of [`Action::EndGrants`]/[`Action::RetryEndGrants`]: how many
    /// grants are still mapped by the backend.
    #[must_use]
    pub fn grants_ended(&mut self, still_mapped: usize) -> Vec<Action> {
        if self.phase != Phase::Releasing {
            return vec![];
        }
        if still_mapped > 0 {
            return vec![Action::RetryEndGrants];
        }
        // `Closed` was written when the release began.
        self.phase = Phase::Closed;
        if matches!(
            self.backend,
            Some(XenbusState::Initialising | XenbusState::InitWait | XenbusState::Initialised)
        ) {
            return self.reconnect();
        }
        vec![]
    }

    /// The caller's deadline for the current phase passed. Waiting for the backend to
    /// appear or connect gives up; ending grants gives up with `still_mapped` pages leaked.
    #[must_use]
    pub fn timed_out(&mut self, still_mapped: usize) -> Vec<Action> {
        let give_up = |waiting_for| LifecycleError::Timeout {
            waiting_for,
            backend: self.backend,
        };
        let error = match self.phase {
            Phase::WaitBackend => give_up(XenbusState::InitWait),
            Phase::Connecting => give_up(XenbusState::Connected),
            Phase::Releasing => LifecycleError::StillMapped {
                grants: still_mapped,
            },
            Phase::Connected | Phase::Closed | Phase::Failed(_) => return vec![],
        };
        self.phase = Phase::Failed(error);
        vec![Action::GiveUp(error)]
    }

    /// From `Closed`: a new connection to a backend that is (re)starting.
    fn reconnect(&mut self) -> Vec<Action> {
        let mut actions = vec![Action::WriteState(XenbusState::Initialising)];
        if matches!(
            self.backend,
            Some(XenbusState::InitWait | XenbusState::Initialised)
        ) {
            self.phase = Phase::Connecting;
            actions.push(Action::Connect);
        } else {
            self.phase = Phase::WaitBackend;
        }
        actions
    }
}
