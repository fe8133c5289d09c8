import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildIdsFromHeader, headerVerdict } from '../src/lib/index/header-ids.ts';
import { readFileClass } from '../src/lib/index/filetype.ts';
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

// ---------------------------------------------------------------------------------------------
// The header rule, case by case: real file classes (from rpm headers in test/fixtures and
// ../shared/corpus, from `file` 5.44 on set-id, sticky and compressed files, and from libmagic's
// Magdir/elf shapes), each with what the header may conclude about a file that carries it.

type Expect = 'no' | 'undecided' | 'REL' | 'EXEC' | 'DYN' | 'CORE' | 'OTHER' | 'elf, type unknown';
const CLASS_TABLE: [string, string, Expect][] = [
  // class, path, verdict
  // ELF, plain and behind libmagic's mode prefixes (fsmagic.c: ", "-joined, then one space)
  ['ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, BuildID[sha1]=c592a95e45625d7891b90f6b86e63373d540461d, for GNU/Linux 3.2.0, stripped', '/usr/bin/hello', 'DYN'],
  ['setuid ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, BuildID[sha1]=e189a65d596e131dcac31741e578dd5297c25f8c, for GNU/Linux 3.2.0, with debug_info, not stripped', '/usr/bin/passwd', 'DYN'],
  ['setgid ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2, BuildID[sha1]=ebca6eb6cf15be1a771b438a6e781b8902eae853, for GNU/Linux 3.2.0, stripped', '/usr/sbin/sendmail', 'DYN'],
  ['sticky ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked', '/usr/bin/x', 'DYN'],
  ['setuid, setgid ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked', '/usr/bin/x', 'DYN'],
  ['setgid, sticky ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked', '/usr/bin/x', 'DYN'],
  ['setuid, setgid, sticky ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked', '/usr/bin/x', 'DYN'],
  ['setuid ELF 64-bit LSB shared object, x86-64, version 1 (SYSV), dynamically linked, BuildID[sha1]=a3a2428bf719d408fb0fa3ec1e932d95a90bac5b, with debug_info, not stripped', '/usr/lib64/libdfsetid.so.1', 'DYN'],
  ['setuid ELF 32-bit LSB executable, Intel 80386, version 1 (SYSV), dynamically linked (uses shared libs), for GNU/Linux 2.6.9, stripped', '/bin/ping', 'EXEC'],
  ['suid sgid ELF 32-bit MSB executable, SPARC, version 1 (SYSV), dynamically linked', '/usr/bin/old', 'EXEC'],
  ['ELF 32-bit LSB executable, Intel 80386, version 1 (SYSV), dynamically linked (uses shared libs), for GNU/Linux 2.6.32, stripped', '/usr/bin/imsettings-info', 'EXEC'],
  ['ELF 64-bit MSB shared object, 64-bit PowerPC or cisco 7500, Power ELF V1 ABI, version 1 (SYSV), dynamically linked, BuildID[sha1]=508f98802d7c744368fc4d2b493ddbbb3126a896, stripped', '/usr/lib/libdfcross.so.1', 'DYN'],
  ['ELF 64-bit LSB relocatable, x86-64, version 1 (SYSV), BuildID[sha1]=7837c295727074667a9f21fd3b94966f6b758eec, stripped', '/usr/lib/debug/.dwz/hello3-1.0-2.x86_64', 'REL'],
  ['ELF 64-bit LSB core file, x86-64, version 1 (SYSV), SVR4-style, from \'sleep 100\'', '/var/lib/x/core', 'CORE'],
  ['ELF 32-bit LSB core file of \'a.out\' (signal 11), Intel 80386, version 1 (SYSV)', '/var/lib/x/core', 'CORE'],
  ['ELF 32-bit LSB no file type, Intel 80386, version 1 (SYSV)', '/usr/lib/x/blob', 'OTHER'],
  ['ELF 64-bit LSB processor-specific, x86-64, version 1 (SYSV)', '/usr/lib/x/blob', 'OTHER'],
  // ELF that does not say its type: the header cannot make the row
  ['ELF 64-bit invalid byte order', '/usr/lib/x/blob', 'elf, type unknown'],
  ['ELF invalid class invalid byte order', '/usr/lib/x/blob', 'elf, type unknown'],
  ['Linux/i386 ELF stub', '/usr/lib/x/blob', 'elf, type unknown'],
  // Compressed kernel modules: as libmagic writes them with MAGIC_COMPRESS (rpm's flags) and without
  ['ELF 64-bit LSB relocatable, x86-64, version 1 (SYSV) (XZ compressed data, checksum CRC32)', '/lib/modules/6.1.0/extra/m.ko.xz', 'REL'],
  ['ELF 64-bit LSB relocatable, x86-64, version 1 (SYSV) (gzip compressed data, max compression, from Unix)', '/lib/modules/6.1.0/extra/m.ko.gz', 'REL'],
  ['setuid ELF 64-bit LSB relocatable, x86-64, version 1 (SYSV) (XZ compressed data, checksum CRC64)', '/lib/modules/6.1.0/extra/m.ko.xz', 'REL'],
  ['XZ compressed data, checksum CRC64', '/usr/lib/modules/6.8.5-301.fc40.x86_64/kernel/fs/ext4/ext4.ko.xz', 'elf, type unknown'],
  ['Zstandard compressed data (v0.8+), Dictionary ID: None', '/lib/modules/6.1.0/extra/m.ko.zst', 'elf, type unknown'],
  ['empty (Zstandard compressed data (v0.8+), Dictionary ID: None)', '/lib/modules/6.1.0/extra/m.ko.zst', 'elf, type unknown'],
  ['gzip compressed data, was "m.ko", last modified: Sat Dec  5 14:16:29 2026, from Unix, original size modulo 2^32 1496', '/lib/modules/6.1.0/extra/m.ko.gz', 'elf, type unknown'],
  ['ASCII text (XZ compressed data, checksum CRC64)', '/lib/modules/6.1.0/extra/notes.ko.xz', 'no'],
  // Compressed data anywhere else is not opened by either scan, whatever it holds
  ['ELF 32-bit LSB executable, QUALCOMM DSP6, version 1 (SYSV), statically linked (XZ compressed data, checksum CRC32)', '/usr/lib/firmware/qcom/a.mbn.xz', 'no'],
  ['troff or preprocessor input text (gzip compressed data, from Unix, max compression)', '/usr/share/man/man1/x.1.gz', 'no'],
  ['troff or preprocessor input, ASCII text (gzip compressed data, max compression, from Unix)', '/usr/share/man/man4/dfmodz.4.gz', 'no'],
  ['XZ compressed data, checksum CRC64', '/usr/share/x.tar.xz', 'no'],
  ['bzip2 compressed data, block size = 900k', '/usr/share/x.bz2', 'no'],
  // Positively something else
  ['ASCII text', '/usr/share/doc/x/README', 'no'],
  ['ASCII English text', '/usr/share/doc/x/README', 'no'],
  ['UTF-8 Unicode text', '/usr/share/doc/x/NEWS', 'no'],
  ['exported SGML document text', '/usr/share/doc/x/x.sgml', 'no'],
  ['POSIX shell script, ASCII text executable', '/usr/bin/df-noarch-script', 'no'],
  ['setuid POSIX shell script, ASCII text executable', '/usr/libexec/df-setid-script', 'no'],
  ['Bourne-Again shell script text executable', '/usr/bin/x', 'no'],
  ['Python script, ASCII text executable', '/usr/bin/x', 'no'],
  ['Perl5 module source text', '/usr/share/perl5/X.pm', 'no'],
  ['PNG image data, 48 x 48, 8-bit/color RGBA, non-interlaced', '/usr/share/icons/x.png', 'no'],
  ['current ar archive', '/usr/lib64/libx.a', 'no'],
  ['Zip archive data, at least v2.0 to extract', '/usr/share/java/x.jar', 'no'],
  ['XML 1.0 document, ASCII text', '/usr/share/x.xml', 'no'],
  ['directory', '/usr/share/x', 'no'],
  ['Mono/.Net assembly, for MS Windows', '/usr/lib/mono/x.dll', 'no'],
  // Not understood: the payload decides
  ['GNU message catalog (little endian), revision 0.0, 1 message', '/usr/share/locale/de/LC_MESSAGES/x.mo', 'undecided'],
  ['data', '/usr/lib64/x', 'undecided'],
  ['Linux kernel x86 boot executable bzImage, version 6.8.5', '/lib/modules/6.8.5/vmlinuz', 'undecided'],
];

for (const [cls, path, want] of CLASS_TABLE) {
  test(`file class rule: ${want.padEnd(9)} ${path} "${cls.slice(0, 70)}"`, () => {
    const v = headerVerdict({ path, mode: 0o100755, size: 20000, fileClass: cls });
    const got: Expect = v.is !== 'elf' ? v.is : v.kind ?? 'elf, type unknown';
    assert.equal(got, want);
  });
}

test('file class rule: an empty class sends a file to the payload only where an ELF file could be', () => {
  const v = (path: string, mode: number, size: number): string => headerVerdict({ path, mode, size, fileClass: '' }).is;
  assert.equal(v('/usr/bin/mystery', 0o100755, 20000), 'undecided', 'an executable');
  assert.equal(v('/usr/lib64/libx.so.1', 0o100644, 20000), 'undecided', 'a DSO made 0644');
  assert.equal(v('/usr/lib/debug/usr/bin/x.debug', 0o100444, 20000), 'undecided', 'a .debug file');
  assert.equal(v('/lib/modules/6.1.0/extra/m.ko.zst', 0o100644, 40), 'undecided', 'a compressed module, however small');
  assert.equal(v('/usr/share/locale/de/LC_MESSAGES/x.mo', 0o100644, 20000), 'no', 'a message catalog');
  assert.equal(v('/usr/share/info/x.info.gz', 0o100644, 20000), 'no', 'compressed info');
  assert.equal(v('/usr/bin/tiny', 0o100755, 51), 'no', 'shorter than any ELF header: the payload scan cannot call it ELF');
  assert.equal(readFileClass('').what, 'unknown');
});

test('a setuid executable and a setuid DSO are accounted for by links and by the class', () => {
  const SUID_EXE = `setuid ${EXE}`;
  const r = buildIdsFromHeader(pkg([
    file('/usr/bin/passwd', { mode: 0o104755, fileClass: SUID_EXE }),
    link(`/usr/lib/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, '../../../../usr/bin/passwd'),
    file('/usr/lib64/libsuid.so.1', { mode: 0o104644, fileClass: `setuid ${DSO}, BuildID[sha1]=${ID2}, stripped` }),
  ]));
  assert.equal(r.complete, true);
  assert.deepEqual(r.rows, [
    { path: '/usr/bin/passwd', buildId: ID1, type: 'executable' },
    { path: '/usr/lib64/libsuid.so.1', buildId: ID2, type: 'shared-library' },
  ]);
});

test('a setgid executable with no evidence sends the scan to the payload (it used to be skipped)', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/sbin/sendmail', { mode: 0o102555, fileClass: `setgid ${EXE}` })]));
  assert.equal(r.complete, false);
  assert.match(r.reason!, /no build-id for \/usr\/sbin\/sendmail/);
});

test('a compressed module: a link gives its id (rpm reads it through libdw), otherwise the payload decides', () => {
  const XZ_REL = 'ELF 64-bit LSB relocatable, x86-64, version 1 (SYSV) (XZ compressed data, checksum CRC32)';
  const mod = '/lib/modules/6.1.0/extra/m.ko.xz';
  const linked = buildIdsFromHeader(pkg([
    file(mod, { fileClass: XZ_REL }),
    link(`/usr/lib/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, `../../../..${mod}`),
  ]));
  assert.equal(linked.complete, true);
  assert.deepEqual(linked.rows, [{ path: mod, buildId: ID1, type: 'kernel-module' }]);
  const bare = buildIdsFromHeader(pkg([file(mod, { fileClass: XZ_REL })]));
  assert.equal(bare.complete, false);
  assert.match(bare.reason!, /no build-id for \/lib\/modules\/6\.1\.0\/extra\/m\.ko\.xz/);
  // Linked, but the class does not say what is inside: the row's type cannot be known.
  const zst = buildIdsFromHeader(pkg([
    file('/lib/modules/6.1.0/extra/m.ko.zst', { fileClass: 'empty (Zstandard compressed data (v0.8+), Dictionary ID: None)' }),
    link(`/usr/lib/.build-id/${ID1.slice(0, 2)}/${ID1.slice(2)}`, '../../../../lib/modules/6.1.0/extra/m.ko.zst'),
  ]));
  assert.equal(zst.complete, false);
  assert.match(zst.reason!, /does not give its ELF type/);
  // A gzip'd man page beside it changes nothing.
  const man = buildIdsFromHeader(pkg([file('/usr/share/man/man1/x.1.gz', { mode: 0o100644, fileClass: 'troff or preprocessor input, ASCII text (gzip compressed data, max compression, from Unix)' })]));
  assert.equal(man.complete, true);
});

test('a class the rule does not know sends the scan to the payload, naming the file and the class', () => {
  const r = buildIdsFromHeader(pkg([file('/usr/lib64/blob', { mode: 0o100644, fileClass: 'data' })]));
  assert.equal(r.complete, false);
  assert.equal(r.reason, 'the file class of /usr/lib64/blob ("data") does not say whether it is ELF');
  // Longer than any libmagic description: not read at all (a crafted one must not cost time).
  const long = `ASCII text${' (compressed data'.repeat(5000)}`;
  const t = Date.now();
  assert.equal(headerVerdict({ path: '/usr/share/x', mode: 0o100644, size: 100, fileClass: long }).is, 'undecided');
  assert.ok(Date.now() - t < 50);
});
