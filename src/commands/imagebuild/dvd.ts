import { dvdFlags, ImageBuildCommand } from '../../lib/cli/image-command.js';
import { ImageType } from '../../lib/image/types.js';

export default class ImagebuildDvd extends ImageBuildCommand {
  static override summary = 'An installation DVD with pungi, or with the builtin backend.';
  static override description = 'The builtin backend (--backend builtin) makes the DVD with dnf, createrepo_c and xorriso.\n\n'
    + 'Reads the .conf files (single imagebuild.conf or the split layout), validates every value first, adds packages from Koji (--nvr, --bid) through a side repository, runs the tool, stages the images with a CHECKSUM and records the job.';
  static override examples = [
    '<%= config.bin %> imagebuild dvd --config config/imagebuild.conf --arch x86_64 --dry-run',
    "<%= config.bin %> imagebuild dvd --nvr 'kernel-6.8.5-301.fc40' --staging file:///srv/images --detach",
    '<%= config.bin %> imagebuild dvd --backend builtin --format tar.zst',
    '<%= config.bin %> imagebuild dvd --backend builtin --boot-iso lorax-out/images/boot.iso',
  ];
  static override flags = dvdFlags;
  protected readonly imageType: ImageType = 'dvd';
}
