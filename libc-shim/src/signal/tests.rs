//! Host tests of `signal`: numbers and layouts against the headers, every delivery rule,
//! a property test of send/mask/deliver sequences against a model, and signal frames
//! read back by `rt_sigreturn`.

use super::*;
use proptest::prelude::*;

// ---- numbers, names and layouts, as the headers on this machine say ----

#[test]
fn numbers_are_linuxs() {
    // /usr/include/x86_64-linux-gnu/asm/signal.h:21 SIGHUP 1, :30 SIGKILL 9, :40 SIGSTOP
    // 19, :56 SIGSYS 31, :60 SIGRTMIN 32, :61 SIGRTMAX _NSIG (64).
    assert_eq!((SIGHUP, SIGKILL, SIGSTOP, SIGSYS), (1, 9, 19, 31));
    assert_eq!((SIGRTMIN, SIGRTMAX, NSIG), (32, 64, 64));
    // The rest in order (asm/signal.h:21-56).
    let all = [
        SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1,
        SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP,
        SIGTTIN, SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR,
        SIGSYS,
    ];
    for (i, sig) in all.into_iter().enumerate() {
        assert_eq!(sig as usize, i + 1);
    }
    // asm-generic/signal-defs.h:36 SA_SIGINFO, :56 SA_ONSTACK, :59 SA_RESTART,
    // :62 SA_NODEFER, :65 SA_RESETHAND, :72-78 SIG_BLOCK/UNBLOCK/SETMASK;
    // asm/signal.h:63 SA_RESTORER.
    assert_eq!(SA_SIGINFO, 0x4);
    assert_eq!(SA_ONSTACK, 0x0800_0000);
    assert_eq!(SA_RESTART, 0x1000_0000);
    assert_eq!(SA_NODEFER, 0x4000_0000);
    assert_eq!(SA_RESETHAND, 0x8000_0000);
    assert_eq!(SA_RESTORER, 0x0400_0000);
    assert_eq!((SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK), (0, 1, 2));
    // asm-generic/siginfo.h:179 SI_USER 0, :180 SI_KERNEL 0x80, :181 SI_QUEUE -1,
    // :182 SI_TIMER -2, :186 SI_TKILL -6.
    assert_eq!(
        (SI_USER, SI_KERNEL, SI_QUEUE, SI_TIMER, SI_TKILL),
        (0, 0x80, -1, -2, -6)
    );
}

#[test]
fn names_follow_the_numbers() {
    assert_eq!(name(SIGTERM), Some("SIGTERM"));
    assert_eq!(name(SIGHUP), Some("SIGHUP"));
    assert_eq!(name(SIGSYS), Some("SIGSYS"));
    assert_eq!(name(SIGSTKFLT), Some("SIGSTKFLT"));
    assert_eq!(name(0), None);
    assert_eq!(name(32), None);
    assert_eq!(alloc::format!("{}", Name(SIGKILL)), "SIGKILL");
    assert_eq!(alloc::format!("{}", Name(34)), "SIGRTMIN+2");
    assert_eq!(alloc::format!("{}", Name(64)), "SIGRTMIN+32");
    assert_eq!(alloc::format!("{}", Name(65)), "signal 65");
    assert_eq!(alloc::format!("{}", Name(0)), "signal 0");
}

#[test]
fn siginfo_layout_matches_the_headers() {
    // /usr/include/x86_64-linux-gnu/bits/types/siginfo_t.h:38-48: si_signo, si_errno,
    // si_code, int __pad0 (64-bit), then the union at 16; :58 si_pid first in it,
    // si_uid after (asm-generic/siginfo.h:40-41), si_sigval after them (:48, at 24);
    // __SI_MAX_SIZE 128 (siginfo_t.h:8, asm-generic/siginfo.h:13). Offsets printed by
    // gcc with glibc and by musl-gcc (bits/signal.h) on this machine: 0, 4, 8, 16, 20, 24.
    assert_eq!(SIGINFO_SIZE, 128);
    assert_eq!((siginfo::SIGNO, siginfo::ERRNO, siginfo::CODE), (0, 4, 8));
    assert_eq!((siginfo::PID, siginfo::UID, siginfo::VALUE), (16, 20, 24));
    let info = SigInfo {
        signo: 40,
        code: SI_QUEUE,
        pid: 7,
        uid: 1000,
        value: 0xdead_beef_0000_0001,
    };
    let b = info.to_bytes();
    assert_eq!(&b[0..4], &40u32.to_le_bytes());
    assert_eq!(&b[8..12], &(-1i32).to_le_bytes());
    assert_eq!(&b[16..20], &7u32.to_le_bytes());
    assert_eq!(&b[20..24], &1000u32.to_le_bytes());
    assert_eq!(&b[24..32], &0xdead_beef_0000_0001u64.to_le_bytes());
    assert!(b[32..].iter().all(|&x| x == 0));
    assert_eq!(SigInfo::from_bytes(&b), info);
}

#[test]
fn ucontext_layout_matches_the_headers() {
    // asm-generic/ucontext.h:5-10: uc_flags, uc_link, uc_stack (stack_t: ss_sp, int
    // ss_flags, ss_size), uc_mcontext, uc_sigmask; the kernel's struct is 304 bytes with
    // its 8-byte sigset_t. musl bits/signal.h:97-103 (ucontext_t) has the same offsets up
    // to uc_sigmask (musl-gcc here: uc_mcontext 40, uc_sigmask 296).
    assert_eq!((ucontext::FLAGS, ucontext::LINK), (0, 8));
    assert_eq!(
        (
            ucontext::STACK_SP,
            ucontext::STACK_FLAGS,
            ucontext::STACK_SIZE
        ),
        (16, 24, 32)
    );
    assert_eq!(
        (ucontext::MCONTEXT, ucontext::SIGMASK, ucontext::SIZE),
        (40, 296, 304)
    );
    // /usr/include/x86_64-linux-gnu/asm/sigcontext.h:238-275, struct sigcontext_64:
    // r8..r15, di, si, bp, bx, dx, ax, cx, sp, ip, flags (8 bytes each: 0..144), cs gs fs
    // ss (u16: 144, 146, 148, 150), err 152, trapno 160, oldmask 168 (:263), cr2 176,
    // fpstate 184 (:273), reserved1[8] 192; 256 bytes. musl bits/signal.h: REG_RDI 8
    // (:26), REG_RSP 15 (:40), REG_RIP 16 (:42), REG_EFL 17 (:44), REG_CSGSFS 18 (:46),
    // REG_OLDMASK 21 (:52), REG_CR2 22 (:54); fpregs right after gregset_t[23] (:59, :82).
    assert_eq!(ucontext::MCONTEXT_SIZE, 256);
    assert_eq!(ucontext::GREGS, 0);
    assert_eq!(ucontext::GREGS + 8 * 8, 64); // rdi: REG_RDI 8
    assert_eq!(ucontext::GREGS + 15 * 8, 120); // rsp: REG_RSP 15
    assert_eq!(ucontext::GREGS + 16 * 8, 128); // rip: REG_RIP 16
    assert_eq!(ucontext::GREGS + 17 * 8, 136); // eflags: REG_EFL 17
    assert_eq!(ucontext::CS, 18 * 8); // REG_CSGSFS 18
    assert_eq!((ucontext::GS, ucontext::FS, ucontext::SS), (146, 148, 150));
    assert_eq!((ucontext::ERR, ucontext::TRAPNO), (19 * 8, 20 * 8));
    assert_eq!((ucontext::OLDMASK, ucontext::CR2), (21 * 8, 22 * 8));
    assert_eq!(ucontext::FPSTATE, 23 * 8); // musl's fpregs
    // asm/ucontext.h:50-51.
    assert_eq!(
        (ucontext::UC_SIGCONTEXT_SS, ucontext::UC_STRICT_RESTORE_SS),
        (2, 4)
    );
    // asm/sigcontext.h:149-166, struct _fpstate_64: mxcsr 24 (:157), sw_reserved 464
    // (:164), 512 bytes.
    assert_eq!((FXSAVE_SIZE, FXSAVE_SW_RESERVED), (512, 464));
    // arch/x86/include/asm/sigframe.h, struct rt_sigframe: char *pretcode; struct
    // ucontext uc; struct siginfo info.
    assert_eq!(
        (FRAME_UCONTEXT, FRAME_SIGINFO, RT_SIGFRAME_SIZE),
        (8, 312, 440)
    );
}

#[test]
fn k_sigaction_is_four_words() {
    // asm/signal.h:91-95 (struct sigaction, the kernel's): sa_handler, sa_flags,
    // sa_restorer, sa_mask (8 bytes); musl's struct k_sigaction has the same words (the
    // mask as unsigned[2]); sizeof 32 printed here by gcc.
    assert_eq!(KSIGACTION_SIZE, 32);
    let a = SigAction {
        handler: Handler::At(0x40_1000),
        flags: SA_SIGINFO | SA_RESTORER | SA_RESTART,
        restorer: 0x40_2000,
        mask: SigSet::of(SIGUSR1).union(SigSet::of(40)),
    };
    let b = a.to_bytes();
    assert_eq!(&b[0..8], &0x40_1000u64.to_le_bytes());
    assert_eq!(
        &b[8..16],
        &(SA_SIGINFO | SA_RESTORER | SA_RESTART).to_le_bytes()
    );
    assert_eq!(&b[16..24], &0x40_2000u64.to_le_bytes());
    assert_eq!(&b[24..32], &((1u64 << 9) | (1u64 << 39)).to_le_bytes());
    assert_eq!(SigAction::from_bytes(&b), a);
    // SIG_DFL and SIG_IGN are 0 and 1; SIGKILL and SIGSTOP leave any mask.
    let mut raw = [0u8; 32];
    raw[0] = 1;
    raw[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let parsed = SigAction::from_bytes(&raw);
    assert_eq!(parsed.handler, Handler::Ignore);
    assert_eq!(parsed.mask, SigSet::FULL.minus(SigSet::UNBLOCKABLE));
    assert_eq!(Handler::from_raw(0), Handler::Default);
}

// ---- sets and default actions ----

#[test]
fn sigset_adds_removes_and_orders() {
    let mut s = SigSet::EMPTY;
    s.add(SIGTERM);
    s.add(SIGHUP);
    s.add(64);
    s.add(0); // not a signal: nothing
    s.add(65);
    assert_eq!(s.0, (1 << 14) | 1 | (1 << 63));
    assert!(s.contains(SIGTERM) && s.contains(64) && !s.contains(0) && !s.contains(65));
    assert_eq!(s.iter().collect::<Vec<_>>(), [1, 15, 64]);
    assert_eq!(s.lowest(), Some(SIGHUP));
    s.remove(SIGHUP);
    assert_eq!(s.lowest(), Some(SIGTERM));
    s.add(SIGSEGV);
    s.add(SIGINT);
    // A synchronous fault comes before lower numbers.
    assert_eq!(s.next(), Some(SIGSEGV));
    assert_eq!(SigSet::EMPTY.next(), None);
    assert_eq!(
        SigSet::FULL.blockable().iter().count(),
        62,
        "all but SIGKILL and SIGSTOP"
    );
}

#[test]
fn default_actions_follow_signal_7() {
    use DefaultAction::*;
    let table = [
        (SIGHUP, Terminate),
        (SIGINT, Terminate),
        (SIGQUIT, Core),
        (SIGILL, Core),
        (SIGTRAP, Core),
        (SIGABRT, Core),
        (SIGBUS, Core),
        (SIGFPE, Core),
        (SIGKILL, Terminate),
        (SIGUSR1, Terminate),
        (SIGSEGV, Core),
        (SIGUSR2, Terminate),
        (SIGPIPE, Terminate),
        (SIGALRM, Terminate),
        (SIGTERM, Terminate),
        (SIGSTKFLT, Terminate),
        (SIGCHLD, Ignore),
        (SIGCONT, Continue),
        (SIGSTOP, Stop),
        (SIGTSTP, Stop),
        (SIGTTIN, Stop),
        (SIGTTOU, Stop),
        (SIGURG, Ignore),
        (SIGXCPU, Core),
        (SIGXFSZ, Core),
        (SIGVTALRM, Terminate),
        (SIGPROF, Terminate),
        (SIGWINCH, Ignore),
        (SIGIO, Terminate),
        (SIGPWR, Terminate),
        (SIGSYS, Core),
    ];
    for (sig, action) in table {
        assert_eq!(DefaultAction::of(sig), action, "{}", Name(sig));
    }
    for sig in SIGRTMIN..=SIGRTMAX {
        assert_eq!(DefaultAction::of(sig), Terminate);
    }
}

// ---- actions ----

const MAIN: u64 = 1;

fn handler_at(addr: u64, flags: u64, mask: SigSet) -> SigAction {
    SigAction {
        handler: Handler::At(addr),
        flags: flags | SA_RESTORER,
        restorer: 0x9000,
        mask,
    }
}

fn ignore() -> SigAction {
    SigAction {
        handler: Handler::Ignore,
        ..SigAction::DEFAULT
    }
}

#[test]
fn kill_and_stop_cannot_be_caught_or_ignored() {
    let mut s = Signals::new(MAIN);
    for sig in [SIGKILL, SIGSTOP] {
        assert_eq!(s.set_action(sig, ignore()), Err(SigError::Uncatchable(sig)));
        assert_eq!(
            s.set_action(sig, handler_at(0x1000, 0, SigSet::EMPTY)),
            Err(SigError::Uncatchable(sig))
        );
        // Reading their action is allowed.
        assert_eq!(s.action(sig), Ok(SigAction::DEFAULT));
    }
    for bad in [0, 65, u32::MAX] {
        assert_eq!(s.action(bad), Err(SigError::InvalidSignal(bad)));
        assert_eq!(
            s.send_process(bad, SigInfo::user(bad, 1, 0)),
            Err(SigError::InvalidSignal(bad))
        );
    }
    assert_eq!(Errno::from(SigError::Uncatchable(SIGKILL)), Errno::EINVAL);
    assert_eq!(Errno::from(SigError::NoThread(9)), Errno(3));
    assert_eq!(Errno::from(SigError::QueueFull(40)), Errno::EAGAIN);
    assert_eq!(Errno::from(SigError::BadHow(3)), Errno::EINVAL);
}

#[test]
fn set_action_returns_the_old_one_and_keeps_kill_and_stop_out_of_masks() {
    let mut s = Signals::new(MAIN);
    let a = handler_at(0x1000, SA_SIGINFO, SigSet::FULL);
    assert_eq!(s.set_action(SIGUSR1, a), Ok(SigAction::DEFAULT));
    let stored = s.action(SIGUSR1).unwrap();
    assert_eq!(stored.mask, SigSet::FULL.blockable());
    assert_eq!(s.set_action(SIGUSR1, ignore()), Ok(stored));
}

#[test]
fn ignored_signals_are_discarded_when_sent() {
    let mut s = Signals::new(MAIN);
    s.set_action(SIGUSR1, ignore()).unwrap();
    let d = s.send_process(SIGUSR1, SigInfo::user(SIGUSR1, 5, 0));
    assert_eq!(d, Ok(Delivery::Discarded));
    for sig in [SIGCHLD, SIGURG, SIGWINCH, SIGCONT] {
        assert_eq!(
            s.send_process(sig, SigInfo::user(sig, 5, 0)),
            Ok(Delivery::Discarded),
            "{}",
            Name(sig)
        );
        assert_eq!(
            s.send_thread(MAIN, sig, SigInfo::tkill(sig, 5, 0)),
            Ok(Delivery::Discarded)
        );
    }
    assert_eq!(s.deliverable(MAIN), SigSet::EMPTY);
    assert_eq!(s.pending(MAIN), Ok(SigSet::EMPTY));
}

#[test]
fn an_ignored_signal_that_is_blocked_stays_pending_for_sigwait() {
    let mut s = Signals::new(MAIN);
    s.set_mask(MAIN, SIG_BLOCK, SigSet::of(SIGCHLD)).unwrap();
    assert_eq!(
        s.send_process(SIGCHLD, SigInfo::user(SIGCHLD, 5, 0)),
        Ok(Delivery::Pending)
    );
    assert_eq!(s.pending(MAIN), Ok(SigSet::of(SIGCHLD)));
    assert_eq!(
        s.take_from(MAIN, SigSet::of(SIGCHLD)),
        Some((SIGCHLD, SigInfo::user(SIGCHLD, 5, 0)))
    );
    // Unblocked while still ignored: dropped, not delivered.
    s.send_process(SIGCHLD, SigInfo::user(SIGCHLD, 5, 0))
        .unwrap();
    s.set_mask(MAIN, SIG_UNBLOCK, SigSet::of(SIGCHLD)).unwrap();
    assert_eq!(s.next_deliverable(MAIN), None);
    assert_eq!(s.pending(MAIN), Ok(SigSet::EMPTY));
}

#[test]
fn setting_ignore_discards_pending_instances_even_blocked() {
    let mut s = Signals::new(MAIN);
    s.thread_started(2, SigSet::EMPTY);
    s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL).unwrap();
    s.set_mask(2, SIG_SETMASK, SigSet::FULL).unwrap();
    s.send_process(SIGUSR2, SigInfo::user(SIGUSR2, 5, 0))
        .unwrap();
    s.send_thread(2, SIGUSR2, SigInfo::tkill(SIGUSR2, 5, 0))
        .unwrap();
    s.send_thread(2, 40, SigInfo::tkill(40, 5, 0)).unwrap();
    assert_eq!(s.pending(2), Ok(SigSet::of(SIGUSR2).union(SigSet::of(40))));
    s.set_action(SIGUSR2, ignore()).unwrap();
    assert_eq!(s.pending(2), Ok(SigSet::of(40)));
    assert_eq!(s.pending(MAIN), Ok(SigSet::EMPTY));
    // SIG_DFL for a default-ignore signal discards too.
    s.send_thread(2, SIGWINCH, SigInfo::tkill(SIGWINCH, 5, 0))
        .unwrap();
    s.set_action(SIGWINCH, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    assert!(s.pending(2).unwrap().contains(SIGWINCH));
    s.set_action(SIGWINCH, SigAction::DEFAULT).unwrap();
    assert!(!s.pending(2).unwrap().contains(SIGWINCH));
}

// ---- where signals go ----

#[test]
fn a_process_signal_prefers_the_main_thread() {
    let mut s = Signals::new(MAIN);
    s.thread_started(2, SigSet::EMPTY);
    s.thread_started(3, SigSet::EMPTY);
    s.set_action(SIGUSR1, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    let info = SigInfo::user(SIGUSR1, 5, 0);
    assert_eq!(s.send_process(SIGUSR1, info), Ok(Delivery::Interrupt(MAIN)));
    // Any thread that does not block it may take it.
    assert!(matches!(
        s.next_deliverable(3),
        Some(Deliverable::Handle { sig: SIGUSR1, .. })
    ));
    s.set_mask(MAIN, SIG_BLOCK, SigSet::of(SIGUSR1)).unwrap();
    assert_eq!(s.send_process(SIGUSR1, info), Ok(Delivery::Interrupt(2)));
    assert_eq!(s.next_deliverable(MAIN), None, "blocked by main");
    s.set_mask(2, SIG_BLOCK, SigSet::of(SIGUSR1)).unwrap();
    s.set_mask(3, SIG_BLOCK, SigSet::of(SIGUSR1)).unwrap();
    // Already pending once (a standard signal): still pending once.
    assert_eq!(s.send_process(SIGUSR1, info), Ok(Delivery::Pending));
    assert_eq!(s.pending(3), Ok(SigSet::of(SIGUSR1)));
    for t in [MAIN, 2, 3] {
        assert_eq!(s.next_deliverable(t), None);
    }
    s.set_mask(3, SIG_UNBLOCK, SigSet::of(SIGUSR1)).unwrap();
    assert_eq!(s.deliverable(3), SigSet::of(SIGUSR1));
    assert!(matches!(
        s.next_deliverable(3),
        Some(Deliverable::Handle { sig: SIGUSR1, .. })
    ));
    assert_eq!(s.next_deliverable(3), None, "delivered once");
}

#[test]
fn default_fatal_signals_end_the_program_at_send() {
    let mut s = Signals::new(MAIN);
    assert_eq!(
        s.send_process(SIGTERM, SigInfo::kernel(SIGTERM)),
        Ok(Delivery::Fatal {
            sig: SIGTERM,
            core: false
        })
    );
    assert_eq!(
        s.send_thread(MAIN, SIGSEGV, SigInfo::kernel(SIGSEGV)),
        Ok(Delivery::Fatal {
            sig: SIGSEGV,
            core: true
        })
    );
    assert_eq!(
        s.send_process(40, SigInfo::user(40, 5, 0)),
        Ok(Delivery::Fatal {
            sig: 40,
            core: false
        })
    );
    // SIGKILL cannot be blocked: fatal whatever the mask.
    s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL).unwrap();
    assert_eq!(
        s.send_process(SIGKILL, SigInfo::user(SIGKILL, 5, 0)),
        Ok(Delivery::Fatal {
            sig: SIGKILL,
            core: false
        })
    );
    // Blocked: pending, and fatal when it gets through.
    assert_eq!(
        s.send_process(SIGTERM, SigInfo::kernel(SIGTERM)),
        Ok(Delivery::Pending)
    );
    s.set_mask(MAIN, SIG_SETMASK, SigSet::EMPTY).unwrap();
    assert_eq!(
        s.next_deliverable(MAIN),
        Some(Deliverable::Fatal {
            sig: SIGTERM,
            info: SigInfo::kernel(SIGTERM),
            core: false
        })
    );
    // With a handler it is the handler's.
    s.set_action(SIGTERM, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    assert_eq!(
        s.send_process(SIGTERM, SigInfo::kernel(SIGTERM)),
        Ok(Delivery::Interrupt(MAIN))
    );
}

#[test]
fn stop_signals_are_the_callers() {
    let mut s = Signals::new(MAIN);
    assert_eq!(
        s.send_process(SIGSTOP, SigInfo::user(SIGSTOP, 5, 0)),
        Ok(Delivery::Stop(SIGSTOP))
    );
    assert_eq!(
        s.send_process(SIGTSTP, SigInfo::user(SIGTSTP, 5, 0)),
        Ok(Delivery::Stop(SIGTSTP))
    );
    s.set_action(SIGTSTP, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    assert_eq!(
        s.send_process(SIGTSTP, SigInfo::user(SIGTSTP, 5, 0)),
        Ok(Delivery::Interrupt(MAIN))
    );
}

#[test]
fn thread_signals_go_to_that_thread_only() {
    let mut s = Signals::new(MAIN);
    s.thread_started(2, SigSet::EMPTY);
    s.set_action(SIGUSR2, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    let info = SigInfo::tkill(SIGUSR2, 5, 0);
    assert_eq!(s.send_thread(2, SIGUSR2, info), Ok(Delivery::Interrupt(2)));
    assert_eq!(s.next_deliverable(MAIN), None);
    assert!(matches!(
        s.next_deliverable(2),
        Some(Deliverable::Handle { sig: SIGUSR2, info: i, .. }) if i == info
    ));
    assert_eq!(s.send_thread(7, SIGUSR2, info), Err(SigError::NoThread(7)));
    s.set_mask(2, SIG_BLOCK, SigSet::of(SIGUSR2)).unwrap();
    assert_eq!(s.send_thread(2, SIGUSR2, info), Ok(Delivery::Pending));
    assert_eq!(s.pending(2), Ok(SigSet::of(SIGUSR2)));
    assert_eq!(s.pending(MAIN), Ok(SigSet::EMPTY));
}

#[test]
fn standard_signals_coalesce_and_realtime_ones_queue() {
    let mut s = Signals::new(MAIN);
    s.set_action(SIGUSR1, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    s.set_action(40, handler_at(0x2000, SA_SIGINFO, SigSet::EMPTY))
        .unwrap();
    s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL).unwrap();
    for v in 1..=3 {
        let mut i = SigInfo::user(SIGUSR1, v, 0);
        s.send_process(SIGUSR1, i).unwrap();
        i.signo = 40;
        i.code = SI_QUEUE;
        i.value = u64::from(v);
        s.send_process(40, i).unwrap();
    }
    s.set_mask(MAIN, SIG_SETMASK, SigSet::EMPTY).unwrap();
    let mut got = Vec::new();
    while let Some(Deliverable::Handle { sig, info, .. }) = s.next_deliverable(MAIN) {
        got.push((sig, info.pid, info.value));
        // Back to the old mask, as rt_sigreturn does.
        s.set_mask(MAIN, SIG_SETMASK, SigSet::EMPTY).unwrap();
    }
    // The first SIGUSR1 sent is the one kept; the realtime ones in order.
    assert_eq!(got, [(SIGUSR1, 1, 0), (40, 1, 1), (40, 2, 2), (40, 3, 3)]);
}

#[test]
fn realtime_queues_are_bounded() {
    let mut s = Signals::new(MAIN);
    s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL).unwrap();
    for _ in 0..QUEUE_LIMIT {
        assert_eq!(
            s.send_thread(MAIN, 50, SigInfo::tkill(50, 1, 0)),
            Ok(Delivery::Pending)
        );
    }
    assert_eq!(
        s.send_thread(MAIN, 50, SigInfo::tkill(50, 1, 0)),
        Err(SigError::QueueFull(50))
    );
    // A standard signal already pending is no new entry.
    s.send_process(SIGUSR1, SigInfo::user(SIGUSR1, 1, 0))
        .unwrap();
}

#[test]
fn delivery_order_is_thread_first_then_synchronous_then_lowest() {
    let mut s = Signals::new(MAIN);
    for sig in [SIGHUP, SIGINT, SIGSEGV, SIGUSR1, 33] {
        s.set_action(sig, handler_at(0x1000, SA_NODEFER, SigSet::EMPTY))
            .unwrap();
    }
    s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL).unwrap();
    s.send_process(SIGHUP, SigInfo::user(SIGHUP, 1, 0)).unwrap();
    s.send_process(SIGSEGV, SigInfo::kernel(SIGSEGV)).unwrap();
    s.send_thread(MAIN, SIGUSR1, SigInfo::tkill(SIGUSR1, 1, 0))
        .unwrap();
    s.send_thread(MAIN, 33, SigInfo::tkill(33, 1, 0)).unwrap();
    s.send_thread(MAIN, SIGINT, SigInfo::tkill(SIGINT, 1, 0))
        .unwrap();
    s.set_mask(MAIN, SIG_SETMASK, SigSet::EMPTY).unwrap();
    let mut order = Vec::new();
    while let Some(Deliverable::Handle { sig, .. }) = s.next_deliverable(MAIN) {
        order.push(sig);
        s.set_mask(MAIN, SIG_SETMASK, SigSet::EMPTY).unwrap();
    }
    assert_eq!(order, [SIGINT, SIGUSR1, 33, SIGSEGV, SIGHUP]);
}

#[test]
fn a_handler_runs_with_its_mask_and_the_signal_blocked() {
    let mut s = Signals::new(MAIN);
    let old = SigSet::of(SIGHUP);
    s.set_mask(MAIN, SIG_SETMASK, old).unwrap();
    let action = handler_at(0x1000, SA_SIGINFO, SigSet::of(SIGINT));
    s.set_action(SIGUSR1, action).unwrap();
    s.send_thread(MAIN, SIGUSR1, SigInfo::tkill(SIGUSR1, 1, 0))
        .unwrap();
    let d = s.next_deliverable(MAIN).unwrap();
    let Deliverable::Handle {
        sig,
        action: taken,
        old_mask,
        ..
    } = d
    else {
        panic!("{d:?}");
    };
    assert_eq!((sig, old_mask), (SIGUSR1, old));
    assert_eq!(taken.handler, Handler::At(0x1000));
    assert_eq!(
        s.mask(MAIN),
        Ok([SIGHUP, SIGINT, SIGUSR1].into_iter().collect())
    );
    // SA_NODEFER: the signal itself stays open; SA_RESETHAND: back to the default.
    s.set_mask(MAIN, SIG_SETMASK, SigSet::EMPTY).unwrap();
    s.set_action(
        SIGUSR2,
        handler_at(0x2000, SA_NODEFER | SA_RESETHAND, SigSet::EMPTY),
    )
    .unwrap();
    s.send_thread(MAIN, SIGUSR2, SigInfo::tkill(SIGUSR2, 1, 0))
        .unwrap();
    let d = s.next_deliverable(MAIN).unwrap();
    assert!(
        matches!(d, Deliverable::Handle { sig: SIGUSR2, action: a, .. } if a.handler == Handler::At(0x2000))
    );
    assert_eq!(s.mask(MAIN), Ok(SigSet::EMPTY));
    assert_eq!(s.action(SIGUSR2), Ok(SigAction::DEFAULT));
    // Now the default: fatal.
    assert_eq!(
        s.send_thread(MAIN, SIGUSR2, SigInfo::tkill(SIGUSR2, 1, 0)),
        Ok(Delivery::Fatal {
            sig: SIGUSR2,
            core: false
        })
    );
}

#[test]
fn sigprocmask_blocks_unblocks_and_sets() {
    let mut s = Signals::new(MAIN);
    let a: SigSet = [SIGHUP, SIGINT].into_iter().collect();
    assert_eq!(s.set_mask(MAIN, SIG_BLOCK, a), Ok(SigSet::EMPTY));
    assert_eq!(
        s.set_mask(
            MAIN,
            SIG_BLOCK,
            SigSet::of(SIGKILL).union(SigSet::of(SIGTERM))
        ),
        Ok(a)
    );
    let b: SigSet = [SIGHUP, SIGINT, SIGTERM].into_iter().collect();
    assert_eq!(s.set_mask(MAIN, SIG_UNBLOCK, SigSet::of(SIGINT)), Ok(b));
    assert_eq!(
        s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL),
        Ok(b.minus(SigSet::of(SIGINT)))
    );
    assert_eq!(s.mask(MAIN), Ok(SigSet::FULL.blockable()));
    assert_eq!(s.set_mask(MAIN, 3, SigSet::EMPTY), Err(SigError::BadHow(3)));
    assert_eq!(s.mask(MAIN), Ok(SigSet::FULL.blockable()), "unchanged");
    assert_eq!(s.set_mask(9, SIG_BLOCK, a), Err(SigError::NoThread(9)));
    // A new thread starts with the mask it is given, less SIGKILL and SIGSTOP.
    s.thread_started(2, SigSet::FULL);
    assert_eq!(s.mask(2), Ok(SigSet::FULL.blockable()));
}

#[test]
fn sigtimedwait_takes_blocked_signals_thread_first() {
    let mut s = Signals::new(MAIN);
    s.set_mask(MAIN, SIG_SETMASK, SigSet::FULL).unwrap();
    s.send_process(SIGUSR1, SigInfo::user(SIGUSR1, 4, 0))
        .unwrap();
    s.send_thread(MAIN, SIGUSR2, SigInfo::tkill(SIGUSR2, 5, 0))
        .unwrap();
    let want: SigSet = [SIGUSR1, SIGUSR2, SIGKILL].into_iter().collect();
    assert_eq!(
        s.take_from(MAIN, want),
        Some((SIGUSR2, SigInfo::tkill(SIGUSR2, 5, 0)))
    );
    assert_eq!(
        s.take_from(MAIN, want),
        Some((SIGUSR1, SigInfo::user(SIGUSR1, 4, 0)))
    );
    assert_eq!(s.take_from(MAIN, want), None);
    assert_eq!(s.take_from(9, want), None);
}

#[test]
fn an_exiting_thread_loses_its_signals_and_hands_on_the_process_ones() {
    let mut s = Signals::new(MAIN);
    s.thread_started(2, SigSet::EMPTY);
    s.set_action(SIGUSR1, handler_at(0x1000, 0, SigSet::EMPTY))
        .unwrap();
    s.set_mask(MAIN, SIG_BLOCK, SigSet::of(SIGUSR1)).unwrap();
    s.send_thread(2, SIGUSR1, SigInfo::tkill(SIGUSR1, 1, 0))
        .unwrap();
    assert_eq!(s.thread_exited(2), None);
    assert_eq!(s.pending(MAIN), Ok(SigSet::EMPTY));
    s.thread_started(3, SigSet::of(SIGUSR1));
    assert_eq!(
        s.send_process(SIGUSR1, SigInfo::user(SIGUSR1, 1, 0)),
        Ok(Delivery::Pending)
    );
    s.thread_started(4, SigSet::EMPTY);
    // Thread 4 could take it now; whoever exits, it is named.
    assert_eq!(s.thread_exited(3), Some(4));
    assert_eq!(s.threads().collect::<Vec<_>>(), [MAIN, 4]);
}

// ---- signal frames ----

fn sample_regs(rsp: u64) -> Registers {
    let mut r = Registers::after_syscall([1, 2, 3, 4, 5, 6], (-4i64) as u64, 0x40_1234, rsp, 0x246);
    r.rbx = 0x11;
    r.rbp = 0x22;
    r.r12 = 0x33;
    r.r13 = 0x44;
    r.r14 = 0x55;
    r.r15 = 0x66;
    r.cs = 0xe033;
    r.ss = 0xe02b;
    r
}

fn fpu_image() -> [u8; FXSAVE_SIZE] {
    let mut f = [0u8; FXSAVE_SIZE];
    for (i, b) in f.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    f[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    f
}

fn request<'a>(
    regs: &'a Registers,
    info: &'a SigInfo,
    fpu: &'a [u8; FXSAVE_SIZE],
) -> FrameRequest<'a> {
    FrameRequest {
        regs,
        old_mask: SigSet::of(SIGHUP).union(SigSet::of(40)),
        info,
        restorer: 0x40_9000,
        fpu,
        stack: StackT {
            sp: 0,
            flags: SS_DISABLE,
            size: 0,
        },
        alt_stack_top: None,
    }
}

#[test]
fn the_frame_is_laid_out_as_linux_lays_it_out() {
    let rsp = 0x7fff_f000_1238;
    let regs = sample_regs(rsp);
    let info = SigInfo::tkill(SIGUSR1, 3, 0);
    let fpu = fpu_image();
    let f = build_frame(&request(&regs, &info, &fpu)).unwrap();
    // Red zone skipped, fpstate 64-byte aligned below it, frame below that with rsp % 16
    // == 8 (as after a call).
    assert_eq!(f.fpstate % 64, 0);
    assert!(f.fpstate + 512 <= rsp - RED_ZONE);
    assert!(rsp - RED_ZONE - (f.fpstate + 512) < 64);
    assert_eq!(f.rsp % 16, 8);
    assert!(f.rsp + RT_SIGFRAME_SIZE as u64 <= f.fpstate);
    assert_eq!(f.bytes.len() as u64, f.fpstate + 512 - f.rsp);
    assert_eq!(f.ucontext, f.rsp + 8);
    assert_eq!(f.siginfo, f.rsp + 312);
    let b = &f.bytes;
    let word = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    assert_eq!(word(0), 0x40_9000, "pretcode");
    let mc = 8 + ucontext::MCONTEXT;
    assert_eq!(word(mc + 8 * 8), 1, "rdi");
    assert_eq!(word(mc + 9 * 8), 2, "rsi");
    assert_eq!(word(mc + 12 * 8), 3, "rdx");
    assert_eq!(word(mc + 2 * 8), 4, "r10");
    assert_eq!(word(mc), 5, "r8");
    assert_eq!(word(mc + 8), 6, "r9");
    assert_eq!(word(mc + 13 * 8), (-4i64) as u64, "rax");
    assert_eq!(word(mc + 15 * 8), rsp, "rsp");
    assert_eq!(word(mc + 16 * 8), 0x40_1234, "rip");
    assert_eq!(word(mc + 17 * 8), 0x246, "eflags");
    assert_eq!(word(mc + ucontext::FPSTATE), f.fpstate);
    assert_eq!(word(8 + ucontext::SIGMASK), (1 << 0) | (1 << 39));
    assert_eq!(
        i32::from_le_bytes(b[8 + 24..8 + 28].try_into().unwrap()),
        SS_DISABLE
    );
    assert_eq!(&b[312..312 + 128], &info.to_bytes());
    let fp = (f.fpstate - f.rsp) as usize;
    assert_eq!(&b[fp..fp + 464], &fpu[..464]);
    assert!(b[fp + 464..].iter().all(|&x| x == 0), "sw_reserved cleared");
}

#[test]
fn the_frame_goes_on_the_alternate_stack_when_asked() {
    let regs = sample_regs(0x7fff_f000_0000);
    let info = SigInfo::kernel(SIGSEGV);
    let fpu = fpu_image();
    let mut req = request(&regs, &info, &fpu);
    req.alt_stack_top = Some(0x5000_0000);
    req.stack = StackT {
        sp: 0x4fff_0000,
        flags: SS_ONSTACK,
        size: 0x1_0000,
    };
    let f = build_frame(&req).unwrap();
    assert_eq!(
        f.fpstate + 512,
        0x5000_0000,
        "no red zone on the alternate stack"
    );
    assert_eq!(f.rsp % 16, 8);
}

#[test]
fn no_frame_below_address_zero() {
    let regs = sample_regs(0x100);
    let info = SigInfo::kernel(SIGSEGV);
    let fpu = fpu_image();
    assert!(matches!(
        build_frame(&request(&regs, &info, &fpu)),
        Err(FrameError::NoRoom { .. })
    ));
    let regs = sample_regs(0x40);
    assert_eq!(
        build_frame(&request(&regs, &info, &fpu)),
        Err(FrameError::NoRoom { sp: 0x40 })
    );
}

/// The memory a frame was written to, as the caller would copy it for `sigreturn`.
fn written(f: &Frame) -> (Vec<u8>, u64) {
    (f.bytes.clone(), f.rsp)
}

#[test]
fn sigreturn_reads_back_what_the_frame_holds() {
    let regs = sample_regs(0x7fff_f000_1238);
    let info = SigInfo::tkill(SIGUSR1, 3, 0);
    let fpu = fpu_image();
    let req = request(&regs, &info, &fpu);
    let f = build_frame(&req).unwrap();
    let (mem, base) = written(&f);
    // The handler's `ret` popped pretcode: rt_sigreturn sees rsp = the ucontext.
    let uc = ucontext_at_sigreturn(f.rsp + 8);
    let r = sigreturn(&mem, base, uc).unwrap();
    let mut want = regs;
    want.rflags &= FIX_EFLAGS;
    assert_eq!(r.context.regs, want);
    assert_eq!(r.context.mask, req.old_mask);
    assert_eq!(r.context.fpstate, f.fpstate);
    let mut want_fpu = fpu;
    want_fpu[FXSAVE_SW_RESERVED..].fill(0);
    assert_eq!(r.fpu, Some(want_fpu));
}

#[test]
fn sigreturn_refuses_what_it_cannot_read_or_return_to() {
    let regs = sample_regs(0x7fff_f000_1238);
    let info = SigInfo::tkill(SIGUSR1, 3, 0);
    let fpu = fpu_image();
    let f = build_frame(&request(&regs, &info, &fpu)).unwrap();
    let (mut mem, base) = written(&f);
    let uc = f.ucontext;
    // Outside the window.
    assert_eq!(
        sigreturn(&mem, base, base - 8),
        Err(SigreturnError::Fault {
            addr: base - 8,
            len: ucontext::SIZE
        })
    );
    assert!(matches!(
        sigreturn(&mem[..300], base, uc),
        Err(SigreturnError::Fault { .. })
    ));
    assert!(matches!(
        sigreturn(&mem, base, u64::MAX - 10),
        Err(SigreturnError::Fault { .. })
    ));
    let mc = 8 + ucontext::MCONTEXT;
    // fpstate pointing outside.
    let fpstate_at = mc + ucontext::FPSTATE;
    let saved = mem[fpstate_at..fpstate_at + 8].to_vec();
    mem[fpstate_at..fpstate_at + 8].copy_from_slice(&(f.fpstate + 64).to_le_bytes());
    assert_eq!(
        sigreturn(&mem, base, uc),
        Err(SigreturnError::Fault {
            addr: f.fpstate + 64,
            len: 512
        })
    );
    // fpstate 0: no FPU state.
    mem[fpstate_at..fpstate_at + 8].fill(0);
    assert_eq!(sigreturn(&mem, base, uc).unwrap().fpu, None);
    mem[fpstate_at..fpstate_at + 8].copy_from_slice(&saved);
    // A kernel-half rip; a mask with SIGKILL; rflags with IOPL and IF.
    let rip_at = mc + 16 * 8;
    mem[rip_at..rip_at + 8].copy_from_slice(&0xffff_8000_0000_0000u64.to_le_bytes());
    assert_eq!(
        sigreturn(&mem, base, uc),
        Err(SigreturnError::BadRegister {
            name: "rip",
            value: 0xffff_8000_0000_0000
        })
    );
    mem[rip_at..rip_at + 8].copy_from_slice(&0x40_1000u64.to_le_bytes());
    let mask_at = 8 + ucontext::SIGMASK;
    mem[mask_at..mask_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let fl_at = mc + 17 * 8;
    mem[fl_at..fl_at + 8].copy_from_slice(&(0x3000u64 | 0x200 | 0x400 | 0x1).to_le_bytes());
    let r = sigreturn(&mem, base, uc).unwrap();
    assert_eq!(r.context.mask, SigSet::FULL.blockable());
    assert_eq!(r.context.regs.rflags, 0x400 | 0x1, "only FIX_EFLAGS bits");
    assert_eq!(
        Errno::from(SigreturnError::Fault { addr: 0, len: 1 }),
        Errno::EFAULT
    );
}

// ---- property tests ----

fn any_regs() -> impl Strategy<Value = Registers> {
    (
        proptest::array::uniform16(any::<u64>()),
        0x1000u64..USER_LIMIT,
        0u64..USER_LIMIT,
        any::<u64>(),
        any::<(u16, u16)>(),
    )
        .prop_map(|(g, rsp, rip, rflags, (cs, ss))| Registers {
            r8: g[0],
            r9: g[1],
            r10: g[2],
            r11: g[3],
            r12: g[4],
            r13: g[5],
            r14: g[6],
            r15: g[7],
            rdi: g[8],
            rsi: g[9],
            rbp: g[10],
            rbx: g[11],
            rdx: g[12],
            rax: g[13],
            rcx: g[14],
            rsp,
            rip,
            rflags,
            cs,
            ss,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frames_round_trip_through_sigreturn(
        regs in any_regs(),
        mask in any::<u64>(),
        info in (1u32..=64, any::<i32>(), any::<u32>(), any::<u32>(), any::<u64>()),
        restorer in any::<u64>(),
        fill in any::<u8>(),
    ) {
        let info = SigInfo { signo: info.0, code: info.1, pid: info.2, uid: info.3, value: info.4 };
        let fpu = [fill; FXSAVE_SIZE];
        let req = FrameRequest {
            regs: &regs,
            old_mask: SigSet(mask).blockable(),
            info: &info,
            restorer,
            fpu: &fpu,
            stack: StackT::default(),
            alt_stack_top: None,
        };
        let f = build_frame(&req).unwrap();
        prop_assert_eq!(f.rsp % 16, 8);
        prop_assert_eq!(f.fpstate % 64, 0);
        prop_assert!(f.fpstate + 512 <= regs.rsp - RED_ZONE);
        prop_assert_eq!(f.bytes.len() as u64, f.fpstate + 512 - f.rsp);
        let r = sigreturn(&f.bytes, f.rsp, ucontext_at_sigreturn(f.rsp + 8)).unwrap();
        let mut want = regs;
        want.rflags &= FIX_EFLAGS;
        prop_assert_eq!(r.context.regs, want);
        prop_assert_eq!(r.context.mask, SigSet(mask).blockable());
        prop_assert_eq!(&r.fpu.unwrap()[..464], &fpu[..464]);
        prop_assert_eq!(SigInfo::from_bytes(f.bytes[312..440].try_into().unwrap()), info);
    }

    #[test]
    fn sigreturn_never_panics_on_any_bytes(
        mem in proptest::collection::vec(any::<u8>(), 0..1200),
        base in any::<u64>(),
        uc in any::<u64>(),
    ) {
        let _ = sigreturn(&mem, base, uc);
        let _ = sigreturn(&mem, base, base.wrapping_add(uc % 1200));
    }

    #[test]
    fn sigset_iter_gives_back_the_set(bits in any::<u64>()) {
        let s = SigSet(bits);
        let again: SigSet = s.iter().collect();
        prop_assert_eq!(again, s);
        prop_assert_eq!(s.iter().count() as u32, bits.count_ones());
        if let Some(n) = s.next() {
            prop_assert!(s.contains(n));
        }
    }
}

/// One step of a program's signal traffic.
#[derive(Debug, Clone)]
enum Op {
    SendProcess(Signo),
    SendThread(usize, Signo),
    SetMask(usize, u64, u64),
    SetAction(Signo, u8),
    Deliver(usize),
    Take(usize, u64),
    Start(usize),
    Exit(usize),
}

const TIDS: [u64; 3] = [MAIN, 2, 3];
const SIGS: [Signo; 16] = [
    SIGHUP, SIGINT, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP,
    SIGTSTP, SIGWINCH, 32, 34, 40, 64,
];

fn any_sig() -> impl Strategy<Value = Signo> {
    proptest::sample::select(&SIGS[..])
}

fn any_set() -> impl Strategy<Value = u64> {
    proptest::collection::vec(any_sig(), 0..5).prop_map(|v| v.into_iter().collect::<SigSet>().0)
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any_sig().prop_map(Op::SendProcess),
        (0..3usize, any_sig()).prop_map(|(t, s)| Op::SendThread(t, s)),
        (0..3usize, 0..4u64, any_set()).prop_map(|(t, h, s)| Op::SetMask(t, h, s)),
        (any_sig(), 0..5u8).prop_map(|(s, k)| Op::SetAction(s, k)),
        (0..3usize).prop_map(Op::Deliver),
        (0..3usize).prop_map(Op::Deliver),
        (0..3usize, any_set()).prop_map(|(t, s)| Op::Take(t, s)),
        (1..3usize).prop_map(Op::Start),
        (1..3usize).prop_map(Op::Exit),
    ]
}

/// What the model keeps: pending instances by signal, per thread and for the process.
#[derive(Debug, Default, Clone)]
struct Model {
    threads: BTreeMap<u64, (SigSet, BTreeMap<Signo, usize>)>,
    process: BTreeMap<Signo, usize>,
}

fn add(q: &mut BTreeMap<Signo, usize>, sig: Signo) {
    let n = q.entry(sig).or_insert(0);
    if realtime(sig) || *n == 0 {
        *n += 1;
    }
}

fn take_one(q: &mut BTreeMap<Signo, usize>, sig: Signo) -> bool {
    match q.get_mut(&sig) {
        Some(n) if *n > 0 => {
            *n -= 1;
            if *n == 0 {
                q.remove(&sig);
            }
            true
        }
        _ => false,
    }
}

fn set_of(q: &BTreeMap<Signo, usize>) -> SigSet {
    q.keys().copied().collect()
}

fn action_for(kind: u8) -> SigAction {
    match kind {
        0 => SigAction::DEFAULT,
        1 => ignore(),
        2 => handler_at(0x1000, 0, SigSet::EMPTY),
        3 => handler_at(0x2000, SA_NODEFER, SigSet::of(SIGUSR2)),
        _ => handler_at(0x3000, SA_RESETHAND, SigSet::EMPTY),
    }
}

/// Runs `ops` on a `Signals` and on the model side by side, checking every outcome.
fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut s = Signals::new(MAIN);
    let mut m = Model::default();
    m.threads.insert(MAIN, (SigSet::EMPTY, BTreeMap::new()));
    let deliver = |s: &mut Signals, m: &mut Model, tid: u64| -> Result<bool, TestCaseError> {
        let Some((mask, _)) = m.threads.get(&tid).cloned() else {
            prop_assert_eq!(s.next_deliverable(tid), None);
            return Ok(false);
        };
        // The model's expectation, in the same order: own first, synchronous first,
        // lowest first; ignored ones dropped on the way.
        let expect = loop {
            let own = set_of(&m.threads[&tid].1).minus(mask);
            let (sig, from_own) = match own.next() {
                Some(sig) => (sig, true),
                None => match set_of(&m.process).minus(mask).next() {
                    Some(sig) => (sig, false),
                    None => break None,
                },
            };
            if from_own {
                take_one(&mut m.threads.get_mut(&tid).unwrap().1, sig);
            } else {
                take_one(&mut m.process, sig);
            }
            if !s.action(sig).unwrap().ignores(sig) {
                break Some(sig);
            }
        };
        let got = s.next_deliverable(tid);
        let got_sig = match got {
            None => None,
            Some(Deliverable::Handle {
                sig,
                old_mask,
                action,
                ..
            }) => {
                prop_assert_eq!(old_mask, mask);
                let mut during = mask.union(action.mask);
                if action.flags & SA_NODEFER == 0 {
                    during.add(sig);
                }
                prop_assert_eq!(s.mask(tid).unwrap(), during.blockable());
                m.threads.get_mut(&tid).unwrap().0 = during.blockable();
                Some(sig)
            }
            Some(Deliverable::Fatal { sig, .. }) | Some(Deliverable::Stop { sig, .. }) => Some(sig),
        };
        if let Some(sig) = got_sig {
            prop_assert!(!mask.contains(sig), "{} delivered while blocked", Name(sig));
        }
        prop_assert_eq!(got_sig, expect);
        Ok(got_sig.is_some())
    };
    for op in ops {
        match *op {
            Op::SendProcess(sig) => {
                let blocked_somewhere = m.threads.values().any(|(mask, _)| mask.contains(sig));
                let ignored = s.action(sig).unwrap().ignores(sig);
                let d = s.send_process(sig, SigInfo::user(sig, 1, 0)).unwrap();
                match d {
                    Delivery::Discarded => prop_assert!(ignored && !blocked_somewhere),
                    Delivery::Interrupt(t) => {
                        prop_assert!(!m.threads[&t].0.contains(sig));
                        if !m.threads[&MAIN].0.contains(sig) {
                            prop_assert_eq!(t, MAIN);
                        }
                        add(&mut m.process, sig);
                    }
                    Delivery::Pending => {
                        prop_assert!(m.threads.values().all(|(mask, _)| mask.contains(sig)));
                        add(&mut m.process, sig);
                    }
                    Delivery::Fatal { .. } | Delivery::Stop(_) => {
                        prop_assert!(m.threads.values().any(|(mask, _)| !mask.contains(sig)));
                        prop_assert!(s.action(sig).unwrap().handler == Handler::Default);
                    }
                }
            }
            Op::SendThread(i, sig) => {
                let tid = TIDS[i];
                let d = s.send_thread(tid, sig, SigInfo::tkill(sig, 1, 0));
                let Some((mask, q)) = m.threads.get_mut(&tid) else {
                    prop_assert_eq!(d, Err(SigError::NoThread(tid)));
                    continue;
                };
                match d.unwrap() {
                    Delivery::Discarded => prop_assert!(!mask.contains(sig)),
                    Delivery::Interrupt(t) => {
                        prop_assert_eq!(t, tid);
                        prop_assert!(!mask.contains(sig));
                        add(q, sig);
                    }
                    Delivery::Pending => {
                        prop_assert!(mask.contains(sig));
                        add(q, sig);
                    }
                    Delivery::Fatal { .. } | Delivery::Stop(_) => prop_assert!(!mask.contains(sig)),
                }
            }
            Op::SetMask(i, how, set) => {
                let tid = TIDS[i];
                let r = s.set_mask(tid, how, SigSet(set));
                match m.threads.get_mut(&tid) {
                    None => prop_assert_eq!(r, Err(SigError::NoThread(tid))),
                    Some((mask, _)) if how > 2 => {
                        prop_assert_eq!(r, Err(SigError::BadHow(how)));
                        let _ = mask;
                    }
                    Some((mask, _)) => {
                        prop_assert_eq!(r, Ok(*mask));
                        *mask = match how {
                            SIG_BLOCK => mask.union(SigSet(set)),
                            SIG_UNBLOCK => mask.minus(SigSet(set)),
                            _ => SigSet(set),
                        }
                        .blockable();
                    }
                }
            }
            Op::SetAction(sig, kind) => {
                let a = action_for(kind);
                let r = s.set_action(sig, a);
                if sig == SIGKILL || sig == SIGSTOP {
                    prop_assert_eq!(r, Err(SigError::Uncatchable(sig)));
                } else {
                    prop_assert!(r.is_ok());
                    if a.ignores(sig) {
                        m.process.remove(&sig);
                        for (_, q) in m.threads.values_mut() {
                            q.remove(&sig);
                        }
                    }
                }
            }
            Op::Deliver(i) => {
                deliver(&mut s, &mut m, TIDS[i])?;
            }
            Op::Take(i, set) => {
                let tid = TIDS[i];
                let set = SigSet(set).blockable();
                let got = s.take_from(tid, set);
                let expect = m.threads.get_mut(&tid).and_then(|(_, q)| {
                    if let Some(sig) = set_of(q).intersection(set).next() {
                        take_one(q, sig);
                        return Some(sig);
                    }
                    None
                });
                let expect = match expect {
                    Some(sig) => Some(sig),
                    None if m.threads.contains_key(&tid) => {
                        let sig = set_of(&m.process).intersection(set).next();
                        if let Some(sig) = sig {
                            take_one(&mut m.process, sig);
                        }
                        sig
                    }
                    None => None,
                };
                prop_assert_eq!(got.map(|(sig, _)| sig), expect);
            }
            Op::Start(i) => {
                let tid = TIDS[i];
                if !m.threads.contains_key(&tid) {
                    let mask = m.threads[&MAIN].0;
                    s.thread_started(tid, mask);
                    m.threads.insert(tid, (mask, BTreeMap::new()));
                }
            }
            Op::Exit(i) => {
                let tid = TIDS[i];
                if m.threads.remove(&tid).is_some()
                    && let Some(t) = s.thread_exited(tid)
                {
                    let mask = m.threads[&t].0;
                    prop_assert!(!set_of(&m.process).minus(mask).is_empty());
                }
            }
        }
        // Everything pending in the model is pending in the state, and nothing else.
        for (&tid, (mask, q)) in &m.threads {
            prop_assert_eq!(s.mask(tid).unwrap(), *mask);
            let all = set_of(q).union(set_of(&m.process));
            prop_assert_eq!(s.pending(tid).unwrap().union(s.deliverable(tid)), all);
        }
    }
    // Drain: with every mask open, each pending instance comes out exactly once.
    let tids: Vec<u64> = m.threads.keys().copied().collect();
    for tid in tids {
        loop {
            s.set_mask(tid, SIG_SETMASK, SigSet::EMPTY).unwrap();
            m.threads.get_mut(&tid).unwrap().0 = SigSet::EMPTY;
            if !deliver(&mut s, &mut m, tid)? {
                break;
            }
        }
        prop_assert!(m.threads[&tid].1.is_empty());
    }
    prop_assert!(m.process.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_traffic_follows_the_rules(ops in proptest::collection::vec(any_op(), 0..64)) {
        run(&ops)?;
    }
}
