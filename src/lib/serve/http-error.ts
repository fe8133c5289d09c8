// An answer other than 200, with the one sentence that explains it (sent as the body and logged).
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}
