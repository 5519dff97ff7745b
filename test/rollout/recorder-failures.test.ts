// The recorder when things go wrong: a disk that fills up in the middle of a write, symbolic links that lead
// out of the sessions directory, and a file whose name and session_meta disagree.
import { copyFile, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  deserializeError,
  RolloutError,
  RolloutIdMismatchError,
  RolloutUnsafePathError,
  RolloutWriteError,
  serializeError,
} from "../../src/errors.js";
import { readRolloutHistory } from "../../src/rollout/reader.js";
import { rolloutLockPath } from "../../src/rollout/lock.js";
import { rolloutPathFor, sessionsDir } from "../../src/rollout/paths.js";
import { nodeRolloutFileIo, RolloutRecorder, type RolloutFileIo } from "../../src/rollout/recorder.js";
import { assistant, fixedClock, FIXED_NOW, ID_A, ID_B, metaItem, rolloutText, sessionMeta, user, useTempDirs } from "./helpers.js";

const makeDir = useTempDirs();

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
}

/**
 * File operations that work until `fillUp()`: then the next write stores only half of what it was given and
 * the one after fails with ENOSPC, as on a disk that fills up in the middle of a write.
 */
function fillingDisk(options: { truncateFails?: boolean } = {}) {
  let state: "ok" | "half" | "full" = "ok";
  const calls = { write: 0, truncate: 0 };
  const io: RolloutFileIo = {
    async write(handle, data, offset, length) {
      calls.write++;
      if (state === "full") throw enospc();
      if (state === "half") {
        state = "full";
        return nodeRolloutFileIo.write(handle, data, offset, Math.max(1, Math.floor(length / 2)));
      }
      return nodeRolloutFileIo.write(handle, data, offset, length);
    },
    async truncate(handle, size) {
      calls.truncate++;
      if (options.truncateFails) throw Object.assign(new Error("EIO: i/o error, ftruncate"), { code: "EIO" });
      return nodeRolloutFileIo.truncate(handle, size);
    },
  };
  return {
    io,
    calls,
    /** "half": the next write stores half its bytes, later ones fail; "full": the next write fails outright. */
    fillUp: (how: "half" | "full" = "half") => {
      state = how;
    },
    freeSpace: () => {
      state = "ok";
    },
  };
}

async function newPath(): Promise<string> {
  return rolloutPathFor(await makeDir(), ID_A, FIXED_NOW);
}

describe("a write that fails part-way (disk full)", () => {
  it("fails with RolloutWriteError naming ENOSPC, cuts the torn line off, and stops the recorder", async () => {
    const path = await newPath();
    const disk = fillingDisk();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock, io: disk.io });
    await recorder.write([user("one")]);
    const before = await readFile(path, "utf8");

    disk.fillUp();
    const failed = recorder.write([user("x".repeat(10_000)), assistant("two")]);
    const queuedBehind = recorder.write([user("queued behind the failed write")]);
    const error = await failed.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutWriteError);
    expect(error).toBeInstanceOf(RolloutError);
    expect(error).toMatchObject({ code: "rollout_write", errnoCode: "ENOSPC", path });
    expect((error as Error).message).toContain("ENOSPC");
    expect((error as Error).message).toContain(path);
    expect(recorder.failure).toBe(error);
    await expect(queuedBehind).rejects.toBe(error);
    expect(await readFile(path, "utf8")).toBe(before);

    // Space comes back: the recorder stays stopped, and writes nothing more, not even empty batches.
    disk.freeSpace();
    const writes = disk.calls.write;
    await expect(recorder.write([user("later")])).rejects.toBe(error);
    await expect(recorder.write([])).rejects.toBe(error);
    expect(disk.calls.write).toBe(writes);
    expect(await readFile(path, "utf8")).toBe(before);

    await recorder.close();
    expect(existsSync(rolloutLockPath(path))).toBe(false);

    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.write([user("after")]);
    await resumed.close();
    const history = await readRolloutHistory(path);
    expect(history.skipped).toEqual([]);
    expect(history.items).toEqual([metaItem(ID_A), user("one"), user("after")]);
  });

  it("when the torn line cannot be cut off, the next writer still starts on a fresh line", async () => {
    const path = await newPath();
    const disk = fillingDisk({ truncateFails: true });
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock, io: disk.io });
    await recorder.write([user("one")]);
    disk.fillUp();
    await expect(recorder.write([user("x".repeat(10_000))])).rejects.toMatchObject({ errnoCode: "ENOSPC" });
    expect(disk.calls.truncate).toBe(1);
    await recorder.close();
    const torn = await readFile(path, "utf8");
    expect(torn.endsWith("\n")).toBe(false);

    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.write([user("after"), assistant("a")]);
    await resumed.close();
    const history = await readRolloutHistory(path);
    // The fragment is one bad line of its own; every line around it is whole.
    expect(history.skipped.map((entry) => entry.line)).toEqual([3]);
    expect(history.items).toEqual([metaItem(ID_A), user("one"), user("after"), assistant("a")]);
    const lines = (await readFile(path, "utf8")).split("\n");
    expect(lines[2]).toBe(torn.split("\n")[2]);
    expect((JSON.parse(lines[3] ?? "") as { ordinal: number }).ordinal).toBe(2);
  });

  it("a write error before any byte is written leaves the file as it was", async () => {
    const path = await newPath();
    const disk = fillingDisk();
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock, io: disk.io });
    const before = await readFile(path, "utf8");
    disk.fillUp("full");
    await expect(recorder.write([user("fills the disk")])).rejects.toBeInstanceOf(RolloutWriteError);
    expect(disk.calls.truncate).toBe(0);
    expect(await readFile(path, "utf8")).toBe(before);
    await recorder.close();
    const resumed = await RolloutRecorder.resume({ path, clock: fixedClock });
    await resumed.close();
    expect((await readFile(path, "utf8")).startsWith(before)).toBe(true);
    expect((await readRolloutHistory(path)).skipped).toEqual([]);
  });

  it("a write that keeps storing nothing fails instead of spinning", async () => {
    const path = await newPath();
    let stuck = false;
    const io: RolloutFileIo = {
      write: async (handle, data, offset, length) => (stuck ? 0 : nodeRolloutFileIo.write(handle, data, offset, length)),
      truncate: nodeRolloutFileIo.truncate,
    };
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock, io });
    stuck = true;
    await expect(recorder.write([user("x")])).rejects.toMatchObject({ code: "rollout_write", errnoCode: undefined });
    await recorder.close();
  });

  it("RolloutWriteError crosses threads with its class and errno code", () => {
    const error = new RolloutWriteError("/s/r.jsonl", "ENOSPC", { cause: enospc() });
    expect(error.message).toBe(
      "cannot write rollout file /s/r.jsonl: ENOSPC: no space left on device, write; nothing further is recorded",
    );
    const copy = deserializeError(serializeError(error));
    expect(copy).toBeInstanceOf(RolloutWriteError);
    expect(copy).toMatchObject({ errnoCode: "ENOSPC", code: "rollout_write", path: "/s/r.jsonl", message: error.message });
    expect(new RolloutWriteError("/p", "EIO").message).toBe("cannot write rollout file /p: EIO; nothing further is recorded");
  });
});

describe("symbolic links under sessions/", () => {
  it("a rollout that is a symbolic link is neither resumed nor created through", async () => {
    const path = await newPath();
    const outside = join(await makeDir(), "target.jsonl");
    const content = rolloutText([metaItem(ID_A), user("outside")]);
    await writeFile(outside, content);
    await mkdir(dirname(path), { recursive: true });
    await symlink(outside, path);

    const error = await RolloutRecorder.resume({ path, clock: fixedClock }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutUnsafePathError);
    expect((error as Error).message).toContain("symbolic link");
    await expect(RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock })).rejects.toBeInstanceOf(
      RolloutUnsafePathError,
    );
    expect(await readFile(outside, "utf8")).toBe(content);
    expect(existsSync(rolloutLockPath(path))).toBe(false);
  });

  it("a dangling symbolic link is not followed to create its target", async () => {
    const path = await newPath();
    const outside = join(await makeDir(), "created-by-mistake.jsonl");
    await mkdir(dirname(path), { recursive: true });
    await symlink(outside, path);
    await expect(RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock })).rejects.toBeInstanceOf(
      RolloutUnsafePathError,
    );
    expect(existsSync(outside)).toBe(false);
  });

  it("a date directory linked to somewhere outside sessions/ is refused before anything is created there", async () => {
    const home = await makeDir();
    const outside = await makeDir();
    const path = rolloutPathFor(home, ID_A, FIXED_NOW);
    const month = dirname(dirname(path));
    await mkdir(dirname(month), { recursive: true });
    await symlink(outside, month);

    const error = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutUnsafePathError);
    expect((error as Error).message).toContain("outside the sessions directory");
    expect(await readdir(outside)).toEqual([]);

    // A file already out there is not resumed through the link either.
    await mkdir(join(outside, basename(dirname(path))));
    await writeFile(join(outside, basename(dirname(path)), basename(path)), rolloutText([metaItem(ID_A)]));
    await expect(RolloutRecorder.resume({ path, clock: fixedClock })).rejects.toBeInstanceOf(RolloutUnsafePathError);
  });

  it("a sessions directory that is itself a link (to another disk) is fine, and so are links inside it", async () => {
    const home = await makeDir();
    const elsewhere = await makeDir();
    await symlink(elsewhere, sessionsDir(home));
    const path = rolloutPathFor(home, ID_A, FIXED_NOW);
    const recorder = await RolloutRecorder.create({ path, meta: sessionMeta(ID_A), clock: fixedClock });
    await recorder.close();
    expect((await readRolloutHistory(path)).items).toEqual([metaItem(ID_A)]);

    // A year directory linked to another place inside sessions/ stays inside.
    const other = rolloutPathFor(home, ID_B, new Date(2031, 0, 2));
    await mkdir(join(elsewhere, "archive", "01", "02"), { recursive: true });
    await symlink(join(elsewhere, "archive"), join(sessionsDir(home), "2031"));
    await (await RolloutRecorder.create({ path: other, meta: sessionMeta(ID_B), clock: fixedClock })).close();
    expect((await stat(join(elsewhere, "archive", "01", "02", basename(other)))).isFile()).toBe(true);
  });
});

describe("a file whose name and session_meta disagree", () => {
  async function mismatched(): Promise<{ path: string; content: string }> {
    const path = await newPath();
    await mkdir(dirname(path), { recursive: true });
    const content = rolloutText([metaItem(ID_B), user("one")]);
    await writeFile(path, content);
    return { path, content };
  }

  it("is refused by the reader the manager resumes from, naming both ids", async () => {
    const { path } = await mismatched();
    const error = await readRolloutHistory(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RolloutIdMismatchError);
    expect(error).toMatchObject({ code: "rollout_id_mismatch", fileNameId: ID_A, sessionMetaId: ID_B, path });
    expect((error as Error).message).toContain(ID_A);
    expect((error as Error).message).toContain(ID_B);
  });

  it("is refused by the recorder, which appends nothing and leaves no lock", async () => {
    const { path, content } = await mismatched();
    await expect(RolloutRecorder.resume({ path, clock: fixedClock })).rejects.toBeInstanceOf(RolloutIdMismatchError);
    expect(await readFile(path, "utf8")).toBe(content);
    expect(existsSync(rolloutLockPath(path))).toBe(false);
  });

  it("the recorder refuses a file that is not the conversation it was asked to resume", async () => {
    const path = await newPath();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, rolloutText([metaItem(ID_A)]));
    await expect(RolloutRecorder.resume({ path, clock: fixedClock, conversationId: ID_B })).rejects.toThrow(
      `holds conversation ${ID_A}, not ${ID_B}`,
    );
    await (await RolloutRecorder.resume({ path, clock: fixedClock, conversationId: ID_A.toUpperCase() })).close();
  });

  it("Codex's own files, whatever they are called, still resume", async () => {
    const dir = await makeDir();
    const fixtures = fileURLToPath(new URL("../fixtures/codex-rollouts/", import.meta.url));
    for (const name of (await readdir(fixtures)).filter((file) => file.endsWith(".jsonl"))) {
      const path = join(dir, name);
      await copyFile(join(fixtures, name), path);
      const history = await readRolloutHistory(path);
      const recorder = await RolloutRecorder.resume({ path, clock: fixedClock, conversationId: history.conversationId });
      await recorder.write([user("more")]);
      await recorder.close();
      expect((await readRolloutHistory(path)).items.at(-1)).toEqual(user("more"));
    }
  });
});
