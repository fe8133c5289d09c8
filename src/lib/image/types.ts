// The image builder's normalized configuration: what both .conf layouts of the original
// service (one imagebuild.conf with [DEFAULT]/[boot]/[dvd]/[live], or the split files) and the
// command-line flags reduce to. Every module of src/lib/image works from this shape.

export type ImageType = 'boot' | 'dvd' | 'live';
export const IMAGE_TYPES: ImageType[] = ['boot', 'dvd', 'live'];

export type BackendName = 'lorax' | 'pungi' | 'livecd-creator' | 'livemedia-creator' | 'builtin';
export type BackendChoice = 'auto' | BackendName;

/** Where a value came from, for messages that name file, section and key. */
export interface ValueOrigin {
  file: string;
  section: string;
  key: string;
}

/** One thing wrong with the configuration; all of them are reported at once. */
export interface ConfigProblem extends Partial<ValueOrigin> {
  value?: string;
  /** What would be accepted, e.g. "boot, dvd, live" or "an http(s) or ftp URL". */
  allowed?: string;
  message: string;
}

export interface RepoSpec {
  /** e.g. "17", "17-updates", "rawhide" */
  name: string;
  url: string;
  /** metalink or mirrorlist URL, passed to lorax with -m */
  mirror?: string;
}

export interface SmtpSettings {
  host: string;
  port: number;
  starttls: boolean;
  user?: string;
  password?: string;
  from: string;
}

export interface BootSettings {
  product: string;
  version: string;
  release: string;
  repos: RepoSpec[];
  proxy?: string;
  outdir: string;
  workdir: string;
}

export interface DvdSettings {
  name: string;
  version: string;
  flavor: string;
  destdir: string;
  cachedir: string;
  workdir: string;
  bugurl: string;
  nosource: boolean;
  sourceisos: boolean;
  force: boolean;
  /** pungi stage: all (--all-stages), or one of -G -C -B -I */
  stage: 'all' | '-G' | '-C' | '-B' | '-I';
  /** kickstart: a local path or an http(s)/ftp URL */
  kickstart: string;
  /** builtin backend: an ISO, or the same tree as an archive */
  format: DvdFormat;
  /** builtin backend: ISO volume id (default NAME-VERSION-BASEARCH, at most 32 characters) */
  volid?: string;
  /** builtin backend: a lorax boot.iso whose boot loader and images/ make the DVD bootable */
  bootIso?: string;
}

export type DvdFormat = 'iso' | 'tar.gz' | 'tar.zst';
export const DVD_FORMATS: DvdFormat[] = ['iso', 'tar.gz', 'tar.zst'];

export interface LiveSettings {
  label: string;
  title: string;
  product: string;
  releasever: string;
  tmpdir: string;
  cachedir: string;
  logfile: string;
  kickstart: string;
  /** for livemedia-creator: --volid and --iso-name (default: label, label.iso) */
  volid?: string;
  isoName?: string;
}

export interface ImageBuildConfig {
  type: ImageType;
  arch: string;
  release: string;
  staging?: string;
  email?: string;
  /** Koji instance profile name for --nvr/--bid packages (default "koji"). */
  koji?: string;
  /** A hub and package store given on the command line instead of a profile. */
  kojiHub?: string;
  kojiTopurl?: string;
  nvr: string[];
  bid: number[];
  backend: BackendChoice;
  smtp?: SmtpSettings;
  boot?: BootSettings;
  dvd?: DvdSettings;
  live?: LiveSettings;
  /**
   * The kickstart as flattened where a job for a worker was submitted (%include and %ksappend
   * resolved), so the worker needs none of the submitter's files.
   */
  kickstartSnapshot?: { source: string; text: string };
  /** The work folder after the job: true keeps it, false removes it, unset keeps it unless the job succeeded. */
  keepWorkdir?: boolean;
  /** Files the configuration was read from. */
  files: string[];
  /** Where each top-level value came from ("arch" -> origin), for later messages. */
  origins: Record<string, ValueOrigin>;
}
