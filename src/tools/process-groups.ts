// Keeps every command's process group from outliving its conversation, even when the host process dies.
//
// A command runs in its own process group, and whatever it starts in the background (`cmd &`, `(cmd &)`,
// `nohup cmd &`) stays in that group after the command itself exits. These hold on to those groups:
//
// - ProcessGroupTracker, one per session (or any owner of commands): knows the groups its commands started,
//   keeps a group after its command exits for as long as something still runs in it, and kills them all on
//   `killAll()` (session shutdown).
// - The spawn service (spawner/service.ts), which forks every command, records each group for the thread that
//   asked and kills them when that thread or the host dies. The tracker then skips the reaper (`track(..., false)`).
// - ProcessReaper, one per thread, only for commands spawned directly (the service could not start): a tiny
//   `/bin/sh` process holding a pipe from this thread. It reads `+pgid` / `-pgid` lines; when the pipe reaches end of file (the thread ended, or the whole host died, SIGKILL
//   included, since the kernel closes the pipe) it SIGKILLs every group still recorded, then exits.
//
// Why one reaper per thread and not one per process in the main thread: a worker records a group in its own
// reaper synchronously, right after the spawn, with no message in flight to the supervisor that a SIGKILL
// could lose, and without needing the supervisor to relay anything; a worker thread that dies (terminate(),
// a crash, running out of heap) closes its pipe, so its reaper cleans up after exactly that worker. This
// matches PR_SET_PDEATHSIG, which is also per thread (see pdeathsig.ts). The cost is one idle `sh` (about a
// megabyte) per thread that has run a command, and a fork of the (large) host to start it, which is why the
// spawn service replaced it where it can run. The reaper never keeps its host alive: its handles are unref'd.
import type * as ChildProcesses from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import type { Writable } from "node:stream";
import { requireBuiltin } from "../util/builtin.js";

/** Reads `+pgid` / `-pgid` lines until end of file, then SIGKILLs the groups still recorded. */
const REAPER_SCRIPT = `
trap '' HUP INT
groups=' '
while IFS= read -r line; do
  pgid=\${line#?}
  case $pgid in ''|0*|1|*[!0-9]*) continue ;; esac
  case $line in
    +*) case $groups in *" $pgid "*) ;; *) groups="$groups$pgid " ;; esac ;;
    -*) case $groups in *" $pgid "*) groups="\${groups%% $pgid *} \${groups#* $pgid }" ;; esac ;;
  esac
done
for pgid in $groups; do kill -s KILL -- "-$pgid" 2>/dev/null; done
`;

/**
 * Whether `pgid` can name a command's process group. 0 and 1 never do, and signalling -0 or -1 would hit our own
 * group or every process we may signal.
 */
export function isProcessGroupId(pgid: number): boolean {
  return Number.isSafeInteger(pgid) && pgid > 1;
}

/** Sends SIGKILL to a whole process group; a group that is already gone is not an error. */
export function killProcessGroup(pgid: number): void {
  if (!isProcessGroupId(pgid)) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Whether anything still runs in the process group. Zombies do not count: where nobody reaps orphans (some
 * containers' pid 1), a finished background job stays a zombie in its group for good.
 */
export function isProcessGroupAlive(pgid: number): boolean {
  return liveProcessGroups([pgid]).has(pgid);
}

/** The groups among `pgids` that still hold a process that is not a zombie (one scan of /proc for all). */
export function liveProcessGroups(pgids: Iterable<number>): Set<number> {
  const signalable = [...pgids].filter((pgid) => {
    if (!isProcessGroupId(pgid)) return false;
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (error) {
      // EPERM: someone else's process is in it; it is alive, even if we cannot kill it.
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  });
  if (signalable.length === 0 || process.platform !== "linux") return new Set(signalable);
  const wanted = new Set(signalable);
  const live = new Set<number>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return wanted;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    if (fields[0] !== "Z" && wanted.has(pgrp)) live.add(pgrp);
  }
  return live;
}

/**
 * A watcher process that SIGKILLs the process groups recorded with it once its pipe from this thread closes:
 * when the thread or the host process dies, however it dies. Started lazily on the first `add`; if it dies
 * (someone killed it), the next `add` or `remove` starts another and records the groups again.
 */
export class ProcessReaper {
  private readonly groups = new Set<number>();
  private child: ChildProcess | undefined;
  private stdin: Writable | undefined;
  private unavailable = false;

  constructor(private readonly shell = "/bin/sh") {}

  /** Records a group to kill when this thread or the host dies. */
  add(pgid: number): void {
    if (!isProcessGroupId(pgid) || this.groups.has(pgid)) return;
    this.groups.add(pgid);
    this.send(`+${pgid}\n`);
  }

  /** Forgets a group (it ended, or its owner killed it). */
  remove(pgid: number): void {
    if (!this.groups.delete(pgid)) return;
    this.send(`-${pgid}\n`);
  }

  /** The groups it would kill now. */
  recorded(): number[] {
    return [...this.groups];
  }

  /** The watcher's pid, once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Closes the pipe: the watcher kills every group still recorded and exits, as on the host's death. */
  close(): void {
    this.groups.clear();
    this.stdin?.end();
    this.child = undefined;
    this.stdin = undefined;
  }

  private send(line: string): void {
    if (this.stdin !== undefined) this.stdin.write(line);
    else this.start(); // records every group it knows, this change included
  }

  /** Starts the watcher and records the known groups with it; false when it cannot run here. */
  private start(): boolean {
    if (this.unavailable) return false;
    let child: ChildProcess;
    try {
      // Its own session: a terminal's Ctrl-C or a kill of the host's process group does not reach it.
      // child_process is loaded here, for the fallback only: a session's start does not need it.
      const { spawn } = requireBuiltin<typeof ChildProcesses>("node:child_process");
      child = spawn(this.shell, ["-c", REAPER_SCRIPT], { detached: true, stdio: ["pipe", "ignore", "ignore"], cwd: "/" });
    } catch {
      this.unavailable = true;
      return false;
    }
    const stdin = child.stdin;
    if (child.pid === undefined || stdin === null) {
      // No shell to run it (the spawn error arrives as an event, which is all there is to say).
      child.once("error", () => {});
      this.unavailable = true;
      return false;
    }
    const forget = () => {
      if (this.child !== child) return;
      this.child = undefined;
      this.stdin = undefined;
    };
    child.once("error", forget);
    child.once("exit", forget);
    stdin.on("error", forget);
    child.unref();
    (stdin as Writable & { unref?: () => void }).unref?.();
    this.child = child;
    this.stdin = stdin;
    stdin.write([...this.groups].map((pgid) => `+${pgid}\n`).join(""));
    return true;
  }
}

let threadReaper: ProcessReaper | undefined;

/** This thread's reaper (module state is per thread: each worker has its own), created on first use. */
export function processReaper(): ProcessReaper {
  threadReaper ??= new ProcessReaper();
  return threadReaper;
}

/** Told when a tracked group starts (true) and when it is over: empty, killed or untracked (false). */
export type ProcessGroupListener = (pgid: number, running: boolean) => void;

export type ProcessGroupTrackerOptions = {
  /** Hears of every group this tracker starts and stops tracking (a session reports them to its supervisor). */
  onChange?: ProcessGroupListener | undefined;
  /** Where groups are recorded against the host's death: this thread's reaper by default, null for none. */
  reaper?: ProcessReaper | null | undefined;
  /** How often groups that outlived their command are checked for being empty (default 1000 ms). */
  pollIntervalMs?: number | undefined;
};

type TrackedGroup = { listener: ProcessGroupListener | undefined; commandExited: boolean };

/**
 * The process groups of one owner's commands (a session's), from spawn until nothing runs in them any more.
 * A group whose command exited but whose background jobs still run stays tracked; `killAll()` ends them.
 */
export class ProcessGroupTracker {
  private readonly groups = new Map<number, TrackedGroup>();
  private readonly onChange: ProcessGroupListener | undefined;
  private readonly reaperOption: ProcessReaper | null | undefined;
  private readonly pollIntervalMs: number;
  private poll: NodeJS.Timeout | undefined;

  constructor(options: ProcessGroupTrackerOptions = {}) {
    this.onChange = options.onChange;
    this.reaperOption = options.reaper;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  /**
   * Starts tracking a command's process group (the pid of its leader); `listener` hears of this group only.
   * `reaped: false` skips the reaper: the spawn service that started the group already kills it when this
   * thread or the host dies.
   */
  track(pgid: number, listener?: ProcessGroupListener, reaped = true): void {
    if (!isProcessGroupId(pgid) || this.groups.has(pgid)) return;
    this.groups.set(pgid, { listener, commandExited: false });
    if (reaped) this.reaper()?.add(pgid);
    this.report(pgid, true, listener);
  }

  /**
   * The group's command (its leader) exited. Stops tracking the group if nothing runs in it any more and
   * returns false; returns true when background jobs keep it alive (it is checked again every poll interval).
   */
  commandExited(pgid: number): boolean {
    const group = this.groups.get(pgid);
    if (group === undefined) return false;
    group.commandExited = true;
    if (!isProcessGroupAlive(pgid)) {
      this.untrack(pgid);
      return false;
    }
    this.schedulePoll();
    return true;
  }

  /** Stops tracking a group without killing it. */
  untrack(pgid: number): void {
    const group = this.groups.get(pgid);
    if (group === undefined) return;
    this.groups.delete(pgid);
    this.reaper()?.remove(pgid);
    this.report(pgid, false, group.listener);
    if (this.groups.size === 0) this.stopPoll();
  }

  /** SIGKILLs every tracked group, running commands and leftover background jobs alike; returns their pgids. */
  killAll(): number[] {
    const pgids = [...this.groups.keys()];
    for (const pgid of pgids) {
      killProcessGroup(pgid);
      this.untrack(pgid);
    }
    return pgids;
  }

  /** Stops tracking the groups whose command exited and in which nothing runs any more. */
  prune(): void {
    const lingering = [...this.groups].filter(([, group]) => group.commandExited).map(([pgid]) => pgid);
    if (lingering.length === 0) return;
    const live = liveProcessGroups(lingering);
    for (const pgid of lingering) if (!live.has(pgid)) this.untrack(pgid);
  }

  has(pgid: number): boolean {
    return this.groups.has(pgid);
  }

  /** The tracked groups' ids. */
  pgids(): number[] {
    return [...this.groups.keys()];
  }

  get size(): number {
    return this.groups.size;
  }

  private reaper(): ProcessReaper | undefined {
    return this.reaperOption === null ? undefined : (this.reaperOption ?? processReaper());
  }

  private report(pgid: number, running: boolean, listener: ProcessGroupListener | undefined): void {
    for (const hear of [this.onChange, listener]) {
      try {
        hear?.(pgid, running);
      } catch {
        // Reporting is best effort (a supervisor's port may be closed at shutdown); tracking goes on.
      }
    }
  }

  private schedulePoll(): void {
    if (this.poll !== undefined) return;
    this.poll = setInterval(() => {
      this.prune();
      if (![...this.groups.values()].some((group) => group.commandExited)) this.stopPoll();
    }, this.pollIntervalMs);
    this.poll.unref();
  }

  private stopPoll(): void {
    clearInterval(this.poll);
    this.poll = undefined;
  }
}
