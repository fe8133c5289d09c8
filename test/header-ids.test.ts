import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildIdsFromHeader } from '../src/lib/index/header-ids.ts';
import { RpmFile, RpmInfo } from '../src/lib/rpm/package.ts';

const EXE = 'ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, stripped';
const DSO = 'ELF 64-bit LSB shared object, x86-64, version 1 (SYSV), dynamically linked, stripped';
const ID1 = '699d82ed314fa6085dda4886782c4f341d2b5137';
const ID2 = '0123456789abcdef0123456789abcdef01234567';

let inode = 1;
function file(path: string, o: Partial<RpmFile> = {}): RpmFile {
  return { index: 0, path, mode: 0o100755, size: 1000, linkTo: '', flags: 0, inode: inode++, device: 1, digest: '', fileClass: '', ...o };
}
const link = (path: string, to: string): RpmFile => file(path, { mode: 0o120777, linkTo: to, fileClass: `symbolic link to \`${to}'` });

function pkg(files: RpmFile[], provides: { name: string; version: string }[] = []): RpmInfo {
  files.forEach((f, i) => { f.index = i; });
  return {
    name: 'p', version: '1', release: '1', arch: 'x86_64', isSource: false, nvr: 'p-1-1', nvra: 'p-1-1.x86_64',
    payloadFormat: 'cpio', payloadCompressor: 'gzip', files, provides, hasFileClasses: true, largeFiles: false, fileDigestAlgo: 8,
  };
}

test('a main-package .build-id link gives its target the id', () => {
  const r = buildIdsFromHeader(pkg([
    file('/usr/bin/hello', { fileClass: EXE }),
    link(`/usr/lib/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, '../../../../usr/bin/hello'),
  ]));
  assert.equal(r.complete, true);
  assert.deepEqual(r.rows, [{ path: '/usr/bin/hello', buildId: ID1, type: 'executable' }]);
});

test('a debuginfo .debug link and matching provide account for the .debug file', () => {
  const r = buildIdsFromHeader(pkg([
    file('/usr/lib/debug/usr/bin/hello-1-1.x86_64.debug', { mode: 0o100644, fileClass: EXE }),
    link(`/usr/lib/debug/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}.debug`, '../../../../../usr/lib/debug/usr/bin/hello-1-1.x86_64.debug'),
    link(`/usr/lib/debug/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, `../../../.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`),
  ], [{ name: 'debuginfo(build-id)', version: ID1 }]));
  assert.equal(r.complete, true);
  assert.deepEqual(r.rows, [{ path: '/usr/lib/debug/usr/bin/hello-1-1.x86_64.debug', buildId: ID1, type: 'debuginfo' }]);
});

test('libmagic\'s BuildID in FILECLASS accounts for a DSO that has no link', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/lib64/libx.so.1', { mode: 0o100644, fileClass: `${DSO}, BuildID[sha1]=${ID2}, stripped` })]));
  assert.equal(r.complete, true);
  assert.deepEqual(r.rows, [{ path: '/usr/lib64/libx.so.1', buildId: ID2, type: 'shared-library' }]);
});

test('an ELF file with no evidence sends the scan to the payload', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/lib64/libx.so.1', { mode: 0o100644, fileClass: DSO })]));
  assert.equal(r.complete, false);
  assert.match(r.reason!, /no build-id for \/usr\/lib64\/libx\.so\.1/);
});

test('conflicting evidence sends the scan to the payload', () => {
  const r = buildIdsFromHeader(pkg([
    file('/usr/bin/hello', { fileClass: `${EXE}, BuildID[sha1]=${ID2}` }),
    link(`/usr/lib/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, '../../../../usr/bin/hello'),
  ]));
  assert.equal(r.complete, false);
  assert.match(r.reason!, /2 different build-ids/);
});

test('a debuginfo(build-id) provide that matches no file sends the scan to the payload', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/bin/a', { fileClass: `${EXE}, BuildID[sha1]=${ID1}` })], [{ name: 'debuginfo(build-id)', version: ID2 }]));
  assert.equal(r.complete, false);
});

test('an executable with an empty file class might be ELF: the payload decides', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/bin/mystery', { fileClass: '' })]));
  assert.equal(r.complete, false);
  const data = buildIdsFromHeader(pkg([file('/usr/share/x.mo', { mode: 0o100644, fileClass: '' })]));
  assert.equal(data.complete, true);
  assert.equal(data.rows.length, 0);
});

test('no file classes at all: the header cannot say which files are ELF', () => {
  const p = pkg([file('/usr/bin/a')]);
  p.hasFileClasses = false;
  assert.equal(buildIdsFromHeader(p).complete, false);
});

test('every path of a hard-link set gets the id of the linked path', () => {
  const shared = { inode: 4242, device: 9, fileClass: EXE };
  const r = buildIdsFromHeader(pkg([
    file('/usr/bin/a', shared), file('/usr/bin/b', shared), file('/usr/bin/c', shared),
    link(`/usr/lib/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, '../../../../usr/bin/c'),
  ]));
  assert.equal(r.complete, true);
  assert.deepEqual(r.rows.map((x) => [x.path, x.buildId]), [['/usr/bin/a', ID1], ['/usr/bin/b', ID1], ['/usr/bin/c', ID1]]);
});

test('ghost files are not in the payload and need no id', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/bin/ghost', { fileClass: EXE, flags: 1 << 6 })]));
  assert.equal(r.complete, true);
  assert.equal(r.rows.length, 0);
});
