// One writer per rollout across processes: the lock file beside the rollout, against real second processes
// (a `sleep` whose pid is written into the lock by hand, and processes that take the lock with llmx's code).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ConversationInUseError, deserializeError, RolloutError, serializeError } from "../../src/errors.js";
import { findRolloutPathById, listConversations } from "../../src/rollout/list.js";
import { acquireRolloutLock, readRolloutLock, releaseOwnRolloutLock, rolloutLockPath } from "../../src/rollout/lock.js";
import { rolloutPathFor } from "../../src/rollout/paths.js";
import { readRolloutHistory } from "../../src/rollout/reader.js";
import { RolloutRecorder } from "../../src/rollout/recorder.js";
import { fixedClock, FIXED_NOW, ID_A, metaItem, sessionMeta, user, useTempDirs } from "./helpers.js";

const makeDir = useTempDirs();
const HOLDER = fileURLToPath(new URL("./lock-holder.ts", import.meta.url));

const children = new Set<ChildProcess>();
afterEach(async () => {
  await Promise.all([...children].map(stop));
});

/** A live process that is not this one: `sleep 30`, killed after the test. */
async function sleeper(): Promise<ChildProcess & { pid: number }> {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  children.add(child);
  await once(child, "spawn");
  return child as ChildProcess & { pid: number };
}

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid as number;
}

type Holder = { child: ChildProcess & { pid: number }; outcome: Promise<string> };

/** Other node processes taking the lock with llmx's own code, all let go at once; `outcome` is what each got. */
async function lockHolders(rolloutPath: string, count = 1): Promise<Holder[]> {
  const holders = await Promise.all(
    Array.from({ length: count }, async () => {
      const child = spawn(process.execPath, ["--import", "tsx", HOLDER, rolloutPath, ID_A], { stdio: ["pipe", "pipe", "inherit"] });
      children.add(child);
      const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> })[Symbol.asyncIterator]();
      const next = async (): Promise<string> => String((await lines.next()).value);
      expect(await next()).toBe("ready");
      return { child: child as ChildProcess & { pid: number }, next };
    }),
  );
  for (const holder of holders) holder.child.stdin?.write("go\n");
  return holders.map(({ child, next }) => ({ child, outcome: next() }));
}

async function lockHolder(rolloutPath: string): Promise<{ child: ChildProcess & { pid: number }; outcome: string }> {
  const [holder] = await lockHolders(rolloutPath);
  if (holder === undefined) throw new Error("no holder");
  return { child: holder.child, outcome: await holder.outcome };
}

async function newRollout(): Promise<string> {
  const home = await makeDir();
  const path = rolloutPathFor(home, ID_A, FIXED_NOW);
  const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
  await recorder.write([user("one")]);
  await recorder.close();
  return path;
}

const resume = (path: string) => RolloutRecorder.resume({ path, clock: fixedClock });

describe("rollout lock", () => {
  it("is taken by create before the first line and released on close", async () => {
    const path = rolloutPathFor(await makeDir(), ID_A, FIXED_NOW);
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    expect(await readRolloutLock(path)).toMatchObject({ pid: process.pid });
    await recorder.close();
    expect(existsSync(rolloutLockPath(path))).toBe(false);

    const resumed = await resume(path);
    expect(await readRolloutLock(path)).toMatchObject({ pid: process.pid });
    await resumed.close();
    expect(await readdir(dirname(path))).toEqual([basename(path)]);
  });

  it("refuses a second writer while another live process holds the lock, naming it, and appends nothing", async () => {
    const path = await newRollout();
    const before = await readFile(path);
    const other = await sleeper();
    await writeFile(rolloutLockPath(path), `${other.pid}\n`);

    const error = await resume(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConversationInUseError);
    expect(error).toMatchObject({ conversationId: ID_A, holderPid: other.pid, lockPath: rolloutLockPath(path) });
    expect((error as Error).message).toContain(`in use by another process (pid ${other.pid})`);
    expect((error as Error).message).toContain(rolloutLockPath(path));
    expect(await readFile(path)).toEqual(before);
    expect(await readFile(rolloutLockPath(path), "utf8")).toBe(`${other.pid}\n`);

    // Once the holder is gone its lock is stale, and taken over.
    await stop(other);
    const resumed = await resume(path);
    expect(await readRolloutLock(path)).toMatchObject({ pid: process.pid });
    await resumed.write([user("two")]);
    await resumed.close();
    expect((await readRolloutHistory(path)).items).toEqual([metaItem(ID_A), user("one"), user("two")]);
    expect(existsSync(rolloutLockPath(path))).toBe(false);
  });

  it("refuses create too when the new file is locked by a live process", async () => {
    const path = rolloutPathFor(await makeDir(), ID_A, FIXED_NOW);
    const other = await sleeper();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(rolloutLockPath(path), JSON.stringify({ pid: other.pid }));
    await expect(RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock })).rejects.toBeInstanceOf(
      ConversationInUseError,
    );
    expect(existsSync(path)).toBe(false);
  });

  it("a process holding the lock with llmx's code blocks us until it is killed, then its lock is taken over", async () => {
    const path = await newRollout();
    const { child, outcome } = await lockHolder(path);
    expect(outcome).toBe("acquired");
    expect(await readRolloutLock(path)).toMatchObject({ pid: child.pid });
    await expect(resume(path)).rejects.toMatchObject({ name: "ConversationInUseError", holderPid: child.pid });

    await stop(child); // SIGKILL: the lock file stays behind, naming a dead process.
    expect(await readRolloutLock(path)).toMatchObject({ pid: child.pid });
    const resumed = await resume(path);
    await resumed.close();
  });

  it("the lock is released by a holder that closes normally", async () => {
    const path = await newRollout();
    const { child, outcome } = await lockHolder(path);
    expect(outcome).toBe("acquired");
    const exited = once(child, "exit");
    child.stdin?.end();
    await exited;
    expect(existsSync(rolloutLockPath(path))).toBe(false);
  });

  it("exactly one of several processes taking over the same stale lock at once wins", async () => {
    for (let round = 0; round < 3; round++) {
      const path = await newRollout();
      await writeFile(rolloutLockPath(path), JSON.stringify({ pid: await deadPid() }));
      const contenders = await lockHolders(path, 5);
      const outcomes = await Promise.all(contenders.map((contender) => contender.outcome));
      expect(outcomes.filter((outcome) => outcome === "acquired")).toHaveLength(1);
      const winner = contenders[outcomes.indexOf("acquired")];
      // A loser names the winner, or another contender it found in the middle of taking the lock over.
      const pids = contenders.map((contender) => `in-use ${contender.child.pid}`);
      for (const outcome of outcomes.filter((o) => o !== "acquired")) expect(pids).toContain(outcome);
      expect(await readRolloutLock(path)).toMatchObject({ pid: winner?.child.pid });
      expect((await readdir(dirname(path))).sort()).toEqual([basename(path), `${basename(path)}.lock`]);
      await Promise.all(contenders.map((contender) => stop(contender.child)));
    }
  });

  it("a lock naming this process (a worker that ended without closing) is ours to take over", async () => {
    const path = await newRollout();
    const first = await resume(path);
    const second = await resume(path);
    await first.close(); // The earlier recorder must not remove the lock the later one now holds.
    expect(await readRolloutLock(path)).toMatchObject({ pid: process.pid });
    await second.write([user("two")]);
    await second.close();
    expect(existsSync(rolloutLockPath(path))).toBe(false);

    await writeFile(rolloutLockPath(path), String(process.pid));
    expect(await releaseOwnRolloutLock(path)).toBe(true);
    expect(existsSync(rolloutLockPath(path))).toBe(false);
    const other = await sleeper();
    await writeFile(rolloutLockPath(path), String(other.pid));
    expect(await releaseOwnRolloutLock(path)).toBe(false);
    expect(existsSync(rolloutLockPath(path))).toBe(true);
  });

  it.skipIf(!existsSync("/proc/self/stat"))("a live pid that started at another time is a reused pid: the lock is stale", async () => {
    const path = await newRollout();
    const other = await sleeper();
    await writeFile(rolloutLockPath(path), JSON.stringify({ pid: other.pid, start: "1" }));
    const resumed = await resume(path);
    await resumed.close();
  });

  it("takes over garbage, an out-of-range pid, and a half-finished takeover by a dead process", async () => {
    for (const content of ["", "not a lock", '{"pid":0}', '{"pid":-1}', "[1]"]) {
      const path = await newRollout();
      await writeFile(rolloutLockPath(path), content);
      await (await resume(path)).close();
      expect(existsSync(rolloutLockPath(path))).toBe(false);
    }
    const path = await newRollout();
    const dead = await deadPid();
    await writeFile(rolloutLockPath(path), String(dead));
    await writeFile(`${rolloutLockPath(path)}.takeover`, String(dead));
    await (await resume(path)).close();
    expect(await readdir(dirname(path))).toEqual([basename(path)]);
  });

  it("a live process in the middle of taking over counts as holding the lock", async () => {
    const path = await newRollout();
    const other = await sleeper();
    await writeFile(rolloutLockPath(path), String(await deadPid()));
    await writeFile(`${rolloutLockPath(path)}.takeover`, String(other.pid));
    await expect(resume(path)).rejects.toMatchObject({ name: "ConversationInUseError", holderPid: other.pid });
  });

  it("never takes over a lock from another host, whose pid cannot be checked here", async () => {
    const path = await newRollout();
    await writeFile(rolloutLockPath(path), JSON.stringify({ pid: await deadPid(), host: "elsewhere.invalid" }));
    const error = await resume(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConversationInUseError);
    expect((error as Error).message).toContain("on elsewhere.invalid");
  });

  it("readers and listings ignore lock files", async () => {
    const home = await makeDir();
    const path = rolloutPathFor(home, ID_A, FIXED_NOW);
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.write([user("one")]);
    // A guard and a temporary file, as a crash in the middle of taking a lock could leave behind.
    await writeFile(`${rolloutLockPath(path)}.takeover`, "1");
    await writeFile(`${rolloutLockPath(path)}.1.tmp`, "1");
    expect((await readRolloutHistory(path)).items).toEqual([metaItem(ID_A), user("one")]);
    const page = await listConversations(home);
    expect(page.items.map((item) => item.path)).toEqual([path]);
    expect(page.scannedFiles).toBe(1);
    expect(await findRolloutPathById(home, ID_A)).toBe(path);
    await recorder.close();
  });

  it("ConversationInUseError keeps its holder across threads and still works without one", () => {
    const error = new ConversationInUseError(ID_A, { pid: 42, lockPath: "/x.lock" });
    const copy = deserializeError(serializeError(error));
    expect(copy).toBeInstanceOf(ConversationInUseError);
    expect(copy).toMatchObject({ holderPid: 42, lockPath: "/x.lock", conversationId: ID_A, message: error.message });
    expect(new ConversationInUseError(ID_A).message).toBe(
      `conversation ${ID_A} is already running; shut it down before resuming it again`,
    );
  });

  it("acquireRolloutLock wraps file system failures in RolloutError", async () => {
    const missingDir = join(await makeDir(), "no", "such", "dir", "x.jsonl");
    await expect(acquireRolloutLock(missingDir, ID_A)).rejects.toBeInstanceOf(RolloutError);
  });
});
