/// <reference types="@webgpu/types" />
/**
 * The WebGPU device layer: one heap, one uniform ring, a pipeline cache and a recorder.
 *
 * Memory model (the same as the WASM backend's linear memory): all tensors live in ONE storage
 * buffer, the heap, and a tensor is an element offset into it (a 32-bit word index; float32
 * data, and int32 token ids stored bit for bit and read with bitcast<i32>). Why one buffer:
 * - every kernel binds exactly the same two things (the heap and its parameters), so there is one
 *   bind group for the life of the context and no per-dispatch bind-group allocation;
 * - operands may alias freely (dlogits = logits, per-step views of one window buffer): WebGPU
 *   forbids binding overlapping ranges of a buffer twice when one is writable, which separate
 *   bindings per operand would run into;
 * - arena views become (offset, length) handles, which is what the device-neutral engine needs.
 *
 * Parameters: each dispatch gets a 256-byte slot (minUniformBufferOffsetAlignment) in a uniform
 * ring, bound with a dynamic offset. The slots are written on the host and uploaded with one
 * writeBuffer just before the submit, so a whole window of dispatches costs one upload and one
 * queue submit. All dispatches go into one compute pass: WebGPU orders dispatches and makes
 * each one's storage writes visible to the next.
 *
 * Counters (dispatches, submits, readbacks, buffers created) are kept for the structural tests.
 */

import type { OpenedDevice } from './device.js';

// GPUBufferUsage / GPUMapMode / GPUShaderStage flag values (fixed by the spec; Dawn in Node does
// not install the constants as globals).
const MAP_READ = 0x0001;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const UNIFORM = 0x0040;
const STORAGE = 0x0080;
const MAP_MODE_READ = 0x0001;
const STAGE_COMPUTE = 0x4;

/** Bytes per dispatch parameter slot: the uniform offset alignment WebGPU guarantees to accept. */
export const SLOT_BYTES = 256;
/** Heap offsets are aligned to this many words (256 bytes), so any tensor start can be copied. */
export const ALIGN_WORDS = 64;
/** Most scalar parameters one dispatch can take. */
const MAX_FIELDS = SLOT_BYTES / 4;

export type FieldType = 'u32' | 'i32' | 'f32';

/** A compiled kernel: its pipeline and the order and type of its parameters. */
export interface Kernel {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly fields: readonly { name: string; type: FieldType }[];
}

/**
 * Parse a parameter list "M N K lda beta:f32 lo:i32" (u32 unless typed) into the WGSL struct
 * `Params` that the kernel reads as `p.M`, and the field order the host packs.
 */
export function paramFields(spec: string): { name: string; type: FieldType }[] {
  const fields = spec.trim().split(/\s+/).filter(Boolean).map((f) => {
    const [name, type = 'u32'] = f.split(':');
    if (type !== 'u32' && type !== 'i32' && type !== 'f32') throw new Error(`bad parameter type in '${f}'`);
    return { name, type: type as FieldType };
  });
  if (fields.length > MAX_FIELDS) throw new Error(`a kernel takes at most ${MAX_FIELDS} parameters`);
  return fields;
}

/** The WGSL prelude every kernel starts with: its parameter struct and the two bindings. */
export function prelude(fields: readonly { name: string; type: FieldType }[]): string {
  const members = fields.length ? fields.map((f) => `  ${f.name}: ${f.type},`).join('\n') : '  unused: u32,';
  return `struct Params {\n${members}\n}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> h: array<f32>;
`;
}

export interface ContextOptions {
  /** Heap size in bytes (rounded up to 256). */
  heapBytes: number;
  /** Dispatches one submit can hold before the recorder submits on its own (default 4096). */
  slots?: number;
}

export class GpuContext {
  /** The heap (replaced by grow(), which copies it). */
  heap: GPUBuffer;
  /** Heap capacity in 32-bit words. */
  words: number;
  private readonly bgl: GPUBindGroupLayout;
  /** Heaps replaced by grow(), destroyed after the next readback (work submitted before may still read them). */
  private readonly retired: GPUBuffer[] = [];
  private readonly uniforms: GPUBuffer;
  private readonly slots: number;
  private readonly host: ArrayBuffer; // mirror of the uniform ring, (slots, 64) words
  private readonly hostU: Uint32Array;
  private readonly hostI: Int32Array;
  private readonly hostF: Float32Array;
  private readonly layout: GPUPipelineLayout;
  private bindGroup: GPUBindGroup;
  private readonly pipelines = new Map<string, Kernel>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private used = 0; // slots used in the open command buffer
  /** Staging buffers not being mapped, for reuse by readMany (a steady state creates none). */
  private readonly staging: GPUBuffer[] = [];
  /** Validation and out-of-memory errors reported by the device, oldest first. */
  readonly errors: string[] = [];
  readonly counters = { dispatches: 0, submits: 0, readbacks: 0, buffersCreated: 0, pipelinesCreated: 0 };

  readonly device: GPUDevice;
  /** Held so that Dawn's instance lives as long as the context (see OpenedDevice.gpu). */
  private readonly gpu: GPU;

  constructor(opened: Pick<OpenedDevice, 'gpu' | 'device'>, opts: ContextOptions) {
    const device = opened.device;
    this.device = device;
    this.gpu = opened.gpu;
    const bytes = Math.ceil(opts.heapBytes / SLOT_BYTES) * SLOT_BYTES;
    if (bytes > device.limits.maxStorageBufferBindingSize) {
      throw new Error(`heap of ${bytes} bytes is over this device's storage buffer limit (${device.limits.maxStorageBufferBindingSize})`);
    }
    device.addEventListener('uncapturederror', (e) => {
      this.errors.push((e as GPUUncapturedErrorEvent).error.message.split('\n')[0]);
    });
    this.words = bytes / 4;
    this.heap = this.createBuffer(bytes, STORAGE | COPY_SRC | COPY_DST);
    this.slots = opts.slots ?? 4096;
    this.uniforms = this.createBuffer(this.slots * SLOT_BYTES, UNIFORM | COPY_DST);
    this.host = new ArrayBuffer(this.slots * SLOT_BYTES);
    this.hostU = new Uint32Array(this.host);
    this.hostI = new Int32Array(this.host);
    this.hostF = new Float32Array(this.host);
    const bgl = (this.bgl = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: SLOT_BYTES } },
        { binding: 1, visibility: STAGE_COMPUTE, buffer: { type: 'storage' } },
      ],
    }));
    this.layout = device.createPipelineLayout({ bindGroupLayouts: [bgl] });
    this.bindGroup = this.makeBindGroup();
  }

  private makeBindGroup(): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.bgl,
      entries: [
        { binding: 0, resource: { buffer: this.uniforms, offset: 0, size: SLOT_BYTES } },
        { binding: 1, resource: { buffer: this.heap } },
      ],
    });
  }

  /** Largest heap this device can bind, in words. */
  get maxWords(): number {
    return Math.floor(Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize) / SLOT_BYTES) * (SLOT_BYTES / 4);
  }

  /**
   * Make the heap at least `words` long (offsets stay valid): submit what is recorded, copy the
   * heap into a bigger buffer and bind that one from now on. The old heap is destroyed at the
   * next readback, once the work that reads it is done.
   */
  grow(words: number): void {
    if (words <= this.words) return;
    if (words > this.maxWords) throw new Error(`GPU memory: ${words * 4} bytes asked, over this device's storage buffer limit (${this.maxWords * 4})`);
    this.flush();
    const next = this.createBuffer(words * 4, STORAGE | COPY_SRC | COPY_DST);
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(this.heap, 0, next, 0, this.words * 4);
    this.device.queue.submit([enc.finish()]);
    this.counters.submits++;
    this.retired.push(this.heap);
    this.heap = next;
    this.words = words;
    this.bindGroup = this.makeBindGroup();
  }

  private createBuffer(size: number, usage: number): GPUBuffer {
    this.counters.buffersCreated++;
    return this.device.createBuffer({ size, usage });
  }

  /**
   * Copy host data into the heap at word offset `off`. This is a queue write, ordered before the
   * next submit, so work already recorded (not yet submitted) is submitted first: it must see
   * the heap as it was when it was recorded.
   */
  write(off: number, data: Float32Array | Int32Array | Uint32Array): void {
    this.flush();
    this.device.queue.writeBuffer(this.heap, off * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * Submit what is recorded and copy several (offset, words) ranges back through one staging
   * buffer: one submit and one map for all of them (a map costs a round trip to the device, so
   * a logging point reads its loss, norm and flags together).
   */
  async readMany(ranges: readonly (readonly [number, number])[]): Promise<Float32Array[]> {
    const total = ranges.reduce((a, [, n]) => a + n, 0);
    const bytes = Math.max(total * 4, 4);
    const free = this.staging.findIndex((b) => b.size >= bytes);
    const staging = free >= 0 ? this.staging.splice(free, 1)[0] : this.createBuffer(Math.ceil(bytes / SLOT_BYTES) * SLOT_BYTES, MAP_READ | COPY_DST);
    this.endPass();
    const enc = this.commandEncoder();
    let at = 0;
    for (const [off, n] of ranges) {
      if (n > 0) enc.copyBufferToBuffer(this.heap, off * 4, staging, at * 4, n * 4);
      at += n;
    }
    this.flush();
    this.counters.readbacks++;
    try {
      await staging.mapAsync(MAP_MODE_READ);
      for (const b of this.retired.splice(0)) b.destroy(); // the map waited for all submitted work
      const all = new Float32Array(staging.getMappedRange(0, total * 4).slice(0));
      staging.unmap();
      this.staging.push(staging);
      let from = 0;
      return ranges.map(([, n]) => all.subarray(from, (from += n)));
    } catch (e) {
      staging.destroy();
      throw e;
    } finally {
      if (this.errors.length) throw new Error(`WebGPU error: ${this.errors[0]}`);
    }
  }

  // ---- pipelines ----

  /**
   * The kernel for `key` (name plus every specialisation baked into its code), compiled on first
   * use from `params` (see paramFields) and `body` (WGSL after the prelude, with entry `main`).
   */
  kernel(key: string, params: string, body: () => string): Kernel {
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const fields = paramFields(params);
    const code = prelude(fields) + body();
    const module = this.device.createShaderModule({ code, label: key });
    const pipeline = this.device.createComputePipeline({ layout: this.layout, compute: { module, entryPoint: 'main' }, label: key });
    const k: Kernel = { key, pipeline, fields };
    this.pipelines.set(key, k);
    this.counters.pipelinesCreated++;
    return k;
  }

  // ---- recording ----

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /**
   * Record one dispatch of `k` with parameters `values` (by name) over `groups` workgroups
   * (x, y, z). Nothing runs until flush() (or a read, or a full uniform ring).
   */
  dispatch(k: Kernel, values: Record<string, number>, groups: readonly [number, number?, number?]): void {
    const [gx, gy = 1, gz = 1] = groups;
    if (gx === 0 || gy === 0 || gz === 0) return; // empty problem: nothing to do
    if (this.used === this.slots) this.flush();
    const base = this.used * MAX_FIELDS;
    k.fields.forEach((f, i) => {
      const v = values[f.name];
      if (v === undefined) throw new Error(`${k.key}: parameter ${f.name} missing`);
      if (f.type === 'f32') this.hostF[base + i] = v;
      else if (f.type === 'i32') this.hostI[base + i] = v;
      else this.hostU[base + i] = v;
    });
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    this.pass.setPipeline(k.pipeline);
    this.pass.setBindGroup(0, this.bindGroup, [this.used * SLOT_BYTES]);
    this.pass.dispatchWorkgroups(gx, gy, gz);
    this.used++;
    this.counters.dispatches++;
  }

  /** Upload the parameter slots and submit everything recorded as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.used) this.device.queue.writeBuffer(this.uniforms, 0, this.host, 0, this.used * SLOT_BYTES);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.used = 0;
    this.counters.submits++;
  }

  destroy(): void {
    for (const b of this.staging) b.destroy();
    this.staging.length = 0;
    for (const b of this.retired.splice(0)) b.destroy();
    this.heap.destroy();
    this.uniforms.destroy();
  }
}

/**
 * Workgroups for n invocations of `size` threads, spread over x and y because one dimension
 * holds at most 65535 workgroups. Kernels rebuild the linear index with `linear(gid, nwg)`.
 */
export function grid1d(n: number, size = 256): [number, number] {
  const groups = Math.ceil(n / size);
  if (groups <= 65535) return [groups, 1];
  return [65535, Math.ceil(groups / 65535)];
}
