// ProbeInfo values for compiler tests: a 1080p30 H.264 stream and a stereo AAC stream by default,
// each field overridable, so a test states only what its source has that is special.
import type { AudioStreamInfo, ProbeInfo, VideoStreamInfo } from '../../src/ffmpeg/types.js';

export function video(o: Partial<VideoStreamInfo> = {}): VideoStreamInfo {
  const width = o.width ?? 1920,
    height = o.height ?? 1080;
  return {
    index: 0,
    codec: 'h264',
    width,
    height,
    displayWidth: width,
    displayHeight: height,
    rotation: 0,
    fps: 30,
    rFrameRate: '30/1',
    avgFrameRate: '30/1',
    vfr: false,
    interlaced: false,
    pixFmt: 'yuv420p',
    bitDepth: 8,
    startTime: 0,
    attachedPic: false,
    ...o,
  };
}

export function audio(o: Partial<AudioStreamInfo> = {}): AudioStreamInfo {
  return { index: 1, codec: 'aac', channels: 2, channelLayout: 'stereo', sampleRate: 48000, startTime: 0, ...o };
}

export function probeOf(v: VideoStreamInfo | undefined, a: AudioStreamInfo | undefined, duration = 10): ProbeInfo {
  return { format: 'mov,mp4,m4a,3gp,3g2,mj2', duration, sizeBytes: 1000, video: v, audio: a };
}

/** Every encoder the compiler knows. */
export const ALL_ENCODERS: ReadonlySet<string> = new Set([
  'libvpx-vp9',
  'libvpx',
  'libsvtav1',
  'libaom-av1',
  'libtheora',
  'libwebp',
  'libopus',
  'libvorbis',
]);
