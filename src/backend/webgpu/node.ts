/**
 * Node entry of WebGPU: loads the optional npm package `webgpu` (Google's Dawn, prebuilt) and
 * opens a device. A missing package, a platform without a prebuilt binary, or a machine without
 * a Vulkan/Metal/D3D driver each give one line saying so, never an exception.
 *
 * On Linux without a GPU, Dawn can use SwiftShader's Vulkan driver (Debian's chromium package
 * ships it): set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json before the first call.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { isSoftwareAdapter, openDevice, summarizeAdapter, type DeviceError, type GpuProbe, type OpenedDevice } from './device.js';

interface DawnModule {
  create(options: string[]): GPU;
}

/** Resolved by name at run time, so the build does not need the optional package. */
const DAWN_PACKAGE = 'webgpu';

/** Dawn's GPU object (the `webgpu` package), or why there is none. */
export async function dawnGpu(dawnOptions: string[] = []): Promise<GPU | DeviceError> {
  let dawn: DawnModule;
  try {
    dawn = (await import(DAWN_PACKAGE)) as DawnModule;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return { error: `WebGPU in Node needs the optional package 'webgpu' (npm install webgpu): ${why}` };
  }
  try {
    return dawn.create(dawnOptions);
  } catch (e) {
    return { error: `WebGPU (Dawn) failed to start: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
}

export async function requestWebGpuDevice(dawnOptions: string[] = []): Promise<OpenedDevice | DeviceError> {
  const gpu = await dawnGpu(dawnOptions);
  return 'error' in gpu ? gpu : openDevice(gpu);
}

/**
 * Is there a hardware GPU for `auto`? Asked in a child process: Dawn prints the Vulkan loader's
 * complaints about drivers it cannot use straight to the process's stderr (a CPU machine's
 * training run would start with lines of them), and a broken driver may crash the process that
 * loads it. The child reports the adapter as JSON and its stderr is dropped; about 0.4 s.
 */
export async function probeDawn(timeoutMs = 15000): Promise<GpuProbe> {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(DAWN_PACKAGE);
  } catch {
    return { hardware: false, why: "the optional package 'webgpu' is not installed" };
  }
  const script = `const m = await import(${JSON.stringify(new URL(`file://${entry}`).href)});
const a = await m.create([]).requestAdapter({ powerPreference: 'high-performance' });
const i = a && a.info;
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter ?? false } : null));
process.exit(0);`;
  const out = await new Promise<string | null>((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: timeoutMs, windowsHide: true }, (err, stdout) => resolve(err ? null : stdout));
  });
  if (out === null) return { hardware: false, why: 'the WebGPU probe failed' };
  let info: GPUAdapterInfo | null;
  try {
    info = JSON.parse(out) as GPUAdapterInfo | null;
  } catch {
    return { hardware: false, why: 'the WebGPU probe said nothing readable' };
  }
  if (!info) return { hardware: false, why: 'no WebGPU adapter' };
  const name = summarizeAdapter(info).name;
  return isSoftwareAdapter(info) ? { hardware: false, why: `only a software adapter (${name})` } : { hardware: true, name };
}
