/// <reference types="@webgpu/types" />
/**
 * Opening a WebGPU device, in the browser (navigator.gpu) and in Node (Dawn, see node.ts), with
 * a one-line reason instead of an exception when there is no WebGPU, no adapter or no device.
 *
 * `software` marks adapters that run on the CPU (SwiftShader, llvmpipe/lavapipe, WARP, or any
 * adapter flagged isFallbackAdapter): they compute correctly, so the tests use them, but they are
 * slower than the WASM backend, so `auto` must pick WebGPU only when `software` is false.
 */

export interface OpenedDevice {
  /**
   * The GPU object the device came from. Keep it referenced as long as the device is used: in
   * Node, Dawn's instance is destroyed when this object is garbage collected, and a device
   * whose instance is gone crashes the process (SIGSEGV) on its next callback.
   */
  gpu: GPU;
  device: GPUDevice;
  adapterInfo: AdapterSummary;
  software: boolean;
}

export interface DeviceError {
  error: string;
}

/** What a platform says about its GPU before opening it (createBackend's auto): a hardware adapter, or why not. */
export type GpuProbe = { hardware: true; name: string } | { hardware: false; why: string };

/** probe of a GPU object (a page's navigator.gpu): quiet and quick there. */
export async function probeGpu(gpu: GPU | undefined | null): Promise<GpuProbe> {
  if (!gpu) return { hardware: false, why: 'no navigator.gpu' };
  try {
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) return { hardware: false, why: 'no WebGPU adapter' };
    const name = summarizeAdapter(a.info).name;
    return isSoftwareAdapter(a.info) ? { hardware: false, why: `only a software adapter (${name})` } : { hardware: true, name };
  } catch (e) {
    return { hardware: false, why: message(e) };
  }
}

/** What we say about an adapter: "vendor architecture (description)", as far as it is known. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** One line for a log: "SwiftShader driver 5.0.0 (google swiftshader)". */
  name: string;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|warp|microsoft basic render|cpu/i;

export function summarizeAdapter(info: GPUAdapterInfo | undefined): AdapterSummary {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const what = [vendor, architecture].filter(Boolean).join(' ');
  const name = description ? (what ? `${description} (${what})` : description) : what || 'unknown adapter';
  return { vendor, architecture, device, description, name };
}

export function isSoftwareAdapter(info: GPUAdapterInfo | undefined): boolean {
  if (!info) return false;
  if ((info as { isFallbackAdapter?: boolean }).isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/**
 * Ask `gpu` for its high-performance adapter and a device with that adapter's largest storage
 * buffer limits (the heap is one storage buffer, see context.ts). Never throws.
 */
export async function openDevice(gpu: GPU | undefined | null): Promise<OpenedDevice | DeviceError> {
  if (!gpu) return { error: 'WebGPU is not available here (no navigator.gpu)' };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { error: `WebGPU adapter request failed: ${message(e)}` };
  }
  if (!adapter) return { error: 'WebGPU found no adapter (no GPU driver; in Node on Linux, a Vulkan driver is needed)' };
  const info = adapter.info;
  try {
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
    return { gpu, device, adapterInfo: summarizeAdapter(info), software: isSoftwareAdapter(info) };
  } catch (e) {
    return { error: `WebGPU device request failed on ${summarizeAdapter(info).name}: ${message(e)}` };
  }
}
