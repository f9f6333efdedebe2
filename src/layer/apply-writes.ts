/**
 * @module layer/apply-writes
 * Where `applyLayer` makes inodes off its own path, so one entry's file need not be finished
 * before the next entry is read: small files on a task pool (keyed by relative path), and once
 * the layer has made enough new inodes to pay for its start (~50 ms), on the file worker
 * (layer/file-worker, keyed by absolute path). Before the disk is asked or changed at a path,
 * whatever is still in the making there lands first (`settle`, `drain`).
 */
import { lutimes } from 'node:fs/promises';
import { TaskPool } from './apply-meta.js';
import { FileWorker } from './file-worker.js';

const FILE_TASKS = 8;
/** Inodes made through async calls before the file worker is worth its start. */
const WORKER_AFTER = 64;

export class WriteQueue {
  readonly #what: string;
  readonly #abs: (rel: string) => string;
  readonly #pool = new TaskPool(FILE_TASKS);
  #worker: FileWorker | undefined;
  /** New files, directories and links seen so far: the worker starts after WORKER_AFTER. */
  #newInodes = 0;

  /** `what` names the layer in the worker's errors; `abs` maps a relative path to the disk. */
  constructor(what: string, abs: (rel: string) => string) {
    this.#what = what;
    this.#abs = abs;
  }

  /** The file worker for one more new inode; undefined until the layer has made enough of them. */
  worker(): FileWorker | undefined {
    if (this.#worker === undefined && ++this.#newInodes > WORKER_AFTER) this.#worker = new FileWorker(this.#what);
    return this.#worker;
  }

  /** Makes the file at `rel` on the task pool (waits for a free slot, not for the task). */
  run(rel: string, task: () => Promise<void>): Promise<void> {
    return this.#pool.run(rel, task);
  }

  /** Whether something at `rel` may still be in the making. */
  pending(rel: string): boolean {
    return this.#pool.has(rel) || this.#worker?.has(this.#abs(rel)) === true;
  }

  /** Lets whatever is in the making at `rel` land (before the disk is asked or changed there). */
  async settle(rel: string): Promise<void> {
    if (this.pending(rel)) await this.drain();
  }

  /** Waits until every file in the making is made. */
  async drain(): Promise<void> {
    await this.#pool.drain();
    await this.#worker?.drain();
  }

  /** After `drain`: sets the directories' final times (`[abs, atime, mtime]`) and stops the worker. */
  async finish(times: readonly [string, number, number][]): Promise<void> {
    const worker = this.#worker;
    if (worker) {
      for (const [abs, atime, mtime] of times) await worker.add({ kind: 'times', path: abs, entryPath: abs, atime, mtime });
      await worker.drain();
      await worker.close();
      this.#worker = undefined;
    } else {
      for (const [abs, atime, mtime] of times) await lutimes(abs, atime, mtime);
    }
  }

  /** After a failure: let running file tasks settle (closing their handles), stop the worker. */
  async abandon(): Promise<void> {
    await this.#pool.drain().catch(() => undefined);
    await this.#worker?.close();
  }
}
