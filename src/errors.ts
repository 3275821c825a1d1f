/**
 * The one error type the library throws for bad input (a bad file, a bad flag, a corrupt
 * checkpoint). Its message is a single line that says what is wrong and what to do; the CLI
 * prints it without a stack trace and exits non-zero. Anything else that escapes is a bug.
 */
export class CharRnnError extends Error {
  override readonly name = 'CharRnnError';
  /** A stable machine-readable code, e.g. 'bad-flag', 'bad-checkpoint', 'bad-utf8'. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}
