/**
 * The page's writing box: as you type, the model's completion of the word appears greyed after
 * the caret; Tab accepts it, Esc dismisses it (then Tab leaves the box as usual). The
 * suggestions are the writing assistant's (`charrnn write`'s logic, run by the worker); this
 * file only asks and draws.
 *
 * The grey text is drawn by a mirror behind a transparent textarea: the same font, padding and
 * wrapping, the typed text invisible in it and the suggestion after it, so the suggestion sits
 * exactly after the last character. It is shown only while the caret is at the end of the text.
 */
const ASK_AFTER_MS = 120; // after typing pauses this long: not one request per key of a fast typist

export class WritingBox {
  private suggestion = '';
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly area: HTMLTextAreaElement,
    private readonly typed: HTMLElement,
    private readonly ghost: HTMLElement,
    /** Ask the worker for a suggestion after `text`. */
    private readonly ask: (text: string) => void,
  ) {
    area.addEventListener('input', () => this.changed());
    area.addEventListener('select', () => this.draw());
    area.addEventListener('click', () => this.draw());
    area.addEventListener('scroll', () => (typed.parentElement!.scrollTop = area.scrollTop));
    area.addEventListener('keydown', (e) => this.key(e));
  }

  private atEnd(): boolean {
    return this.area.selectionStart === this.area.value.length && this.area.selectionEnd === this.area.value.length;
  }

  private changed(): void {
    this.suggestion = '';
    this.draw();
    clearTimeout(this.timer);
    if (this.area.value.length > 0) this.timer = setTimeout(() => this.ask(this.area.value), ASK_AFTER_MS);
  }

  /** The worker's suggestion after `text` (dropped if the text changed since it was asked). */
  show(text: string, suggestion: string): void {
    if (text !== this.area.value) return;
    this.suggestion = suggestion;
    this.draw();
  }

  private draw(): void {
    this.typed.textContent = this.area.value;
    this.ghost.textContent = this.atEnd() ? this.suggestion : '';
    this.area.dataset.suggestion = this.ghost.textContent; // what Tab would insert (the tests read it)
  }

  private key(e: KeyboardEvent): void {
    if (e.key === 'Escape' && this.suggestion) {
      this.suggestion = '';
      this.draw();
    } else if (e.key === 'Tab' && !e.shiftKey && this.suggestion && this.atEnd()) {
      e.preventDefault();
      this.area.setRangeText(this.suggestion, this.area.value.length, this.area.value.length, 'end');
      this.changed();
    }
  }
}
