/**
 * Debian's Chromium for the browser tests, driven by playwright-core (no browser download; CI
 * installs the `chromium` package). One place for its path and the flags every test uses.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** The `skip` option of a test that needs Chromium: false where it is installed. */
export const noChromium: false | string = !existsSync(CHROMIUM) && 'no /usr/bin/chromium (apt-get install chromium)';

/** Headless, quiet (no first-run, update or sync traffic); no GPU unless `webgpu` (WebGPU on SwiftShader lives in the GPU process). */
export function launchChromium(opts: { webgpu?: boolean } = {}): Promise<Browser> {
  const gpu = opts.webgpu ? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'] : ['--disable-gpu'];
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', ...gpu, '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
