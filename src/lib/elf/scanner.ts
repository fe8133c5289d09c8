// Streaming build-id reader: fed one archive member chunk by chunk, it keeps only the byte
// ranges it needs (file header, header tables, note areas) and says when it has seen enough,
// so the caller can skip the rest of the member without buffering it. Nothing keeps a reference
// to a pushed chunk after push returns.
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ElfHeader, ElfKind, ELF_HEADER_MAX, elfKind, isElf, noteSections, noteSegments, NoteRange, parseElfHeader,
} from './header.js';
import { findBuildId } from './notes.js';

export interface ElfScanResult {
  elf: boolean;
  kind?: ElfKind;
  machine?: number;
  is64?: boolean;
  littleEndian?: boolean;
  buildId?: string;
}

export interface ScannerOptions {
  /** Bytes of the member kept in memory from its start (default 1 MiB). */
  headLimit?: number;
  /** Folder for the rare spill file (default os.tmpdir()). */
  spillDir?: string;
  /** Bytes a compressed member (a `.ko.xz`) is decompressed to at most (default 1 GiB). */
  maxDecompressed?: number;
}

const MAX_TABLE = 8 << 20;
const MAX_NOTE_AREA = 1 << 20;
// Real files have a handful of note segments and sections. A hostile table of thousands, each
// claiming a megabyte, gets these many (and bytes) read, not 64 GB.
const MAX_NOTE_AREAS = 64;
const MAX_NOTE_BYTES = 16 << 20;

interface Want {
  offset: number;
  buf: Buffer;
  got: number;
  onReady: (b: Buffer) => void;
}

export class ElfBuildIdScanner {
  private readonly headLimit: number;
  private readonly spillDir: string;
  private head: Buffer[] = [];
  private headLen = 0;
  private headBuf?: Buffer;
  private pos = 0;
  private hdr?: ElfHeader;
  private wants: Want[] = [];
  private pendingNotes = 0;
  private sectionsPlanned = false;
  private spillFd?: number;
  private spillEnd = 0;
  private result: ElfScanResult = { elf: false };
  private noteAreas = 0;
  private noteBytes = 0;
  done = false;

  constructor(private readonly size: number, opts: ScannerOptions = {}) {
    this.headLimit = Math.max(opts.headLimit ?? 1 << 20, ELF_HEADER_MAX);
    this.spillDir = opts.spillDir ?? tmpdir();
    if (size < 16) this.done = true;
  }

  /** Feed the next bytes of the member; returns true once nothing more is needed. */
  push(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return this.done;
    // Split at the head limit so the header is parsed before deciding whether to spill.
    if (this.pos < this.headLimit && this.pos + chunk.length > this.headLimit) {
      const cut = this.headLimit - this.pos;
      return this.push(chunk.subarray(0, cut)) || this.push(chunk.subarray(cut));
    }
    if (this.pos >= this.headLimit && this.hdr && !this.sectionsPlanned) this.maybeSpill();
    let borrowed: Buffer | undefined;
    const start = this.pos;
    const end = start + chunk.length;
    this.pos = end;
    if (this.headLen < this.headLimit) {
      borrowed = chunk.subarray(0, Math.min(chunk.length, this.headLimit - this.headLen));
      this.head.push(borrowed);
      this.headLen += borrowed.length;
      this.headBuf = undefined;
    }
    if (this.spillFd !== undefined && end > this.headLimit && start < this.spillEnd) {
      const from = Math.max(start, this.headLimit);
      const to = Math.min(end, this.spillEnd);
      writeSync(this.spillFd, chunk, from - start, to - from, from - this.headLimit);
    }
    for (const w of [...this.wants]) {
      const wEnd = w.offset + w.buf.length;
      if (wEnd <= start || w.offset >= end) continue;
      const from = Math.max(start, w.offset);
      const to = Math.min(end, wEnd);
      chunk.copy(w.buf, from - w.offset, from - start, to - start);
      w.got += to - from;
      if (w.got === w.buf.length) {
        this.wants.splice(this.wants.indexOf(w), 1);
        w.onReady(w.buf);
        if (this.done) return true;
      }
    }
    this.step();
    // Still reading: keep our own copy of the head bytes, as the caller may reuse the chunk.
    if (borrowed && !this.done) this.ownHead(borrowed);
    return this.done;
  }

  private ownHead(borrowed: Buffer): void {
    const i = this.head.indexOf(borrowed);
    if (i >= 0) {
      this.head[i] = Buffer.from(borrowed);
      this.headBuf = undefined;
    }
  }

  /** Call at the end of the member (or once push returned true). */
  finish(): ElfScanResult {
    this.closeSpill();
    this.done = true;
    return this.result;
  }

  private headBytes(): Buffer {
    if (!this.headBuf) {
      this.headBuf = this.head.length === 1 ? this.head[0] : Buffer.concat(this.head, this.headLen);
      this.head = [this.headBuf];
    }
    return this.headBuf;
  }

  private step(): void {
    if (!this.hdr) {
      const need = Math.min(ELF_HEADER_MAX, this.size);
      if (this.headLen < Math.min(need, 4)) return;
      if (!isElf(this.headBytes())) return this.stop();
      if (this.headLen < need) return;
      const hdr = parseElfHeader(this.headBytes().subarray(0, need));
      if (!hdr) return this.stop();
      this.hdr = hdr;
      this.result = {
        elf: true, kind: elfKind(hdr.type), machine: hdr.machine, is64: hdr.is64, littleEndian: hdr.littleEndian,
      };
      this.planPrograms();
    }
    this.checkFinished();
  }

  private planPrograms(): void {
    const h = this.hdr!;
    const len = h.phnum * h.phentsize;
    if (h.phoff === 0 || len === 0) return this.planSections();
    this.pendingNotes++;
    this.request(h.phoff, len, MAX_TABLE, (table) => {
      this.pendingNotes--;
      for (const seg of noteSegments(h, table)) this.requestNotes(seg);
    });
    if (!this.done) this.planSections();
  }

  private planSections(force = false): void {
    if (this.sectionsPlanned || this.done) return;
    const h = this.hdr!;
    const len = h.shnum * h.shentsize;
    if (h.shoff === 0 || len === 0) { this.sectionsPlanned = true; return; }
    // Section tables sit at the end; keep what lies between head and table in case a note is there.
    if (!force && h.shoff > this.headLimit) return;
    this.sectionsPlanned = true;
    this.pendingNotes++;
    this.request(h.shoff, len, MAX_TABLE, (table) => {
      this.pendingNotes--;
      for (const sec of noteSections(h, table)) this.requestNotes(sec);
    });
  }

  private maybeSpill(): void {
    const h = this.hdr;
    if (!h || this.spillFd !== undefined || h.shoff <= this.headLimit) { this.planSections(true); return; }
    const path = join(this.spillDir, `darkforge-spill-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.spillFd = openSync(path, 'w+', 0o600);
    unlinkSync(path); // the open descriptor keeps it; nothing is left behind on a crash
    this.spillEnd = Math.min(h.shoff, this.size);
    this.planSections(true);
  }

  private requestNotes(r: NoteRange): void {
    if (r.size === 0 || r.size > MAX_NOTE_AREA) return;
    if (++this.noteAreas > MAX_NOTE_AREAS || (this.noteBytes += r.size) > MAX_NOTE_BYTES) return;
    this.pendingNotes++;
    this.request(r.offset, r.size, MAX_NOTE_AREA, (area) => {
      this.pendingNotes--;
      const id = findBuildId(area, this.hdr!.littleEndian, r.align);
      if (id) {
        this.result.buildId = id;
        this.stop();
      }
    });
  }

  /** Deliver [offset, offset+len) to cb now if already seen, or when the stream reaches it. */
  private request(offset: number, len: number, max: number, cb: (b: Buffer) => void): void {
    if (len > max || offset + len > this.size) { cb(Buffer.alloc(0)); return; }
    const end = offset + len;
    if (end <= this.headLen) { cb(this.headBytes().subarray(offset, end)); return; }
    if (offset >= this.pos) {
      this.wants.push({ offset, buf: Buffer.alloc(len), got: 0, onReady: cb });
      return;
    }
    if (this.spillFd !== undefined && offset >= this.headLimit && end <= Math.min(this.pos, this.spillEnd)) {
      const buf = Buffer.alloc(len);
      readSync(this.spillFd, buf, 0, len, offset - this.headLimit);
      cb(buf);
      return;
    }
    // Straddles what was kept and what is still to come: assemble from both.
    if (offset < this.headLen && end > this.pos && this.pos === this.headLen) {
      const buf = Buffer.alloc(len);
      this.headBytes().copy(buf, 0, offset, this.headLen);
      this.wants.push({ offset, buf, got: this.headLen - offset, onReady: cb });
      return;
    }
    cb(Buffer.alloc(0)); // passed and not kept: nothing to read there
  }

  private checkFinished(): void {
    if (this.done) return;
    if (this.sectionsPlanned && this.pendingNotes === 0 && this.wants.length === 0) this.stop();
  }

  private stop(): void {
    this.wants = [];
    this.done = true;
    this.head = [];
    this.headBuf = undefined;
    this.closeSpill();
  }

  private closeSpill(): void {
    if (this.spillFd !== undefined) {
      closeSync(this.spillFd);
      this.spillFd = undefined;
    }
  }
}

/** Read the build-id of an ELF image held in memory (used for small inputs and tests). */
export function scanElfBuffer(buf: Buffer): ElfScanResult {
  const s = new ElfBuildIdScanner(buf.length, { headLimit: Math.max(buf.length, ELF_HEADER_MAX) });
  s.push(buf);
  return s.finish();
}
