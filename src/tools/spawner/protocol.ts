// The spawn service's messages, one closed union per direction, tagged by `type`. A worker thread sends
// requests on its connection; the service answers each command by its `id` (chosen by the worker, unique on
// that connection). Requests are validated when they arrive (the socket is private, but a request is still
// bytes from elsewhere).
import { constants } from "node:os";
import path from "node:path";
import * as z from "zod";

const noNul = (value: string) => !value.includes("\0");
const WireString = z.string().refine(noNul, "contains a NUL byte");

export const SpawnRequest = z.object({
  type: z.literal("spawn"),
  id: z.number().int().nonnegative(),
  file: WireString.min(1),
  args: z.array(WireString).max(100_000),
  cwd: WireString.refine((cwd) => path.isAbsolute(cwd), "is not an absolute path"),
  env: z.record(z.string().refine((name) => name.length > 0 && !name.includes("=") && noNul(name)), WireString),
  /** Run it under `setpriv --pdeathsig KILL` (pdeathsig.ts), so that it dies if the service dies. */
  dieWithParent: z.boolean(),
});
export type SpawnRequest = z.infer<typeof SpawnRequest>;

/** Signals a process group the service started for this connection (others are refused). */
export const KillRequest = z.object({
  type: z.literal("kill"),
  pgid: z.number().int().gt(1),
  signal: z.string().refine((name) => Object.hasOwn(constants.signals, name), "is not a signal name"),
});
export type KillRequest = z.infer<typeof KillRequest>;

/** The worker no longer wants a command's output (its streams were destroyed): the service stops reading it. */
export const ReleaseRequest = z.object({ type: z.literal("release"), id: z.number().int().nonnegative() });
export type ReleaseRequest = z.infer<typeof ReleaseRequest>;

/**
 * A connection's first frame: the secret the service printed to the host when it started. The socket's directory
 * keeps other users out, but commands run as the host's user, sandboxed ones included, and a sandbox may still
 * see the socket (bwrap keeps /tmp): without the secret, which lives only in the host's memory, a command that
 * connects can ask for nothing.
 */
export const HelloRequest = z.object({ type: z.literal("hello"), token: z.string().regex(/^[0-9a-f]{64}$/) });
export type HelloRequest = z.infer<typeof HelloRequest>;

export const ServiceRequest = z.discriminatedUnion("type", [SpawnRequest, KillRequest, ReleaseRequest]);
export type ServiceRequest = z.infer<typeof ServiceRequest>;

export type ServiceReply =
  | { type: "spawned"; id: number; pid: number }
  /** The spawn failed: `code` is the errno code child_process reports (ENOENT, EACCES, EINVAL for a bad request). */
  | { type: "error"; id: number; code: string; errno: number | undefined; syscall: string; path: string | undefined; message: string }
  | { type: "output"; id: number; stream: "stdout" | "stderr"; chunk: Uint8Array }
  | { type: "exit"; id: number; code: number | null; signal: string | null }
  | { type: "close"; id: number; code: number | null; signal: string | null }
  /** A request that could not be understood at all (no id to answer). */
  | { type: "refused"; message: string };
