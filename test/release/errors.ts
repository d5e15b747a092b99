/** Why a release was refused, with a stable code (docs/errors.md); nothing was written or pushed. */
export const releaseErrorMessages = {
  LEASEHOLD_RELEASE_USAGE:
    'usage: npm run release -- --out DIR [--registry HOST/PREFIX] [--push] [--plain-http]',
  LEASEHOLD_RELEASE_DIRTY: 'the working tree has uncommitted changes; a release is built from a commit',
  LEASEHOLD_RELEASE_VERSION_MISMATCH: 'the version fields disagree with the release version',
  LEASEHOLD_RELEASE_NO_CHANGELOG: 'CHANGELOG.md has no entry for the release version',
  LEASEHOLD_RELEASE_OUT_EXISTS: 'the output directory already holds artifacts of this release',
  LEASEHOLD_RELEASE_REGISTRY_DOWN: 'the registry does not answer',
  LEASEHOLD_RELEASE_VERSION_EXISTS: 'the registry already has this version',
  LEASEHOLD_RELEASE_PUSH_REFUSED: 'the registry refused a push',
  LEASEHOLD_RELEASE_HELM: 'helm failed',
  LEASEHOLD_RELEASE_IMAGES: 'building the images failed',
} as const;

export type ReleaseErrorCode = keyof typeof releaseErrorMessages;

export class ReleaseError extends Error {
  readonly code: ReleaseErrorCode;

  constructor(code: ReleaseErrorCode, detail?: string) {
    super(detail ? `${releaseErrorMessages[code]}: ${detail}` : releaseErrorMessages[code]);
    this.name = 'ReleaseError';
    this.code = code;
  }
}
