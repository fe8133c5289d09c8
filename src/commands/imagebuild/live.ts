import { buildFlags, ImageBuildCommand } from '../../lib/cli/image-command.js';
import { ImageType } from '../../lib/image/types.js';

export default class ImagebuildLive extends ImageBuildCommand {
  static override summary = 'A live image with livemedia-creator or livecd-creator, or the builtin backend.';
  static override description = 'The builtin backend (--backend builtin) installs the image with dnf, mksquashfs and xorriso, and must run as root.\n\n'
    + 'Reads the .conf files (single imagebuild.conf or the split layout), validates every value first, adds packages from Koji (--nvr, --bid) through a side repository, runs the tool, stages the images with a CHECKSUM and records the job.';
  static override examples = [
    '<%= config.bin %> imagebuild live --config config/imagebuild.conf --arch x86_64 --dry-run',
    "<%= config.bin %> imagebuild live --nvr 'kernel-6.8.5-301.fc40' --staging file:///srv/images --detach",
  ];
  static override flags = buildFlags;
  protected readonly imageType: ImageType = 'live';
}
