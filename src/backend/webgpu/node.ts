/**
 * Node entry of WebGPU: loads the optional npm package `webgpu` (Google's Dawn, prebuilt) and
 * opens a device. A missing package, a platform without a prebuilt binary, or a machine without
 * a Vulkan/Metal/D3D driver each give one line saying so, never an exception.
 *
 * On Linux without a GPU, Dawn can use SwiftShader's Vulkan driver (Debian's chromium package
 * ships it): set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json before the first call.
 */
import { openDevice, type DeviceError, type OpenedDevice } from './device.js';

interface DawnModule {
  create(options: string[]): GPU;
}

/** Resolved by name at run time, so the build does not need the optional package. */
const DAWN_PACKAGE = 'webgpu';

export async function requestWebGpuDevice(dawnOptions: string[] = []): Promise<OpenedDevice | DeviceError> {
  let dawn: DawnModule;
  try {
    dawn = (await import(DAWN_PACKAGE)) as DawnModule;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return { error: `WebGPU in Node needs the optional package 'webgpu' (npm install webgpu): ${why}` };
  }
  let gpu: GPU;
  try {
    gpu = dawn.create(dawnOptions);
  } catch (e) {
    return { error: `WebGPU (Dawn) failed to start: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  return openDevice(gpu);
}
