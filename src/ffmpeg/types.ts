// What the probe tells about an input; the preset compiler decides from this alone.

export interface VideoStreamInfo {
  index: number;
  codec: string;
  /** Coded size, before rotation. */
  width: number;
  height: number;
  /** Size as displayed: width/height swapped when rotation is 90 or 270; sample aspect applied. */
  displayWidth: number;
  displayHeight: number;
  /** Clockwise display rotation in degrees from side data or the rotate tag: 0, 90, 180, 270. */
  rotation: number;
  /** Average frame rate (frames/s); from avg_frame_rate, falling back to r_frame_rate. */
  fps: number;
  /** ffprobe's r_frame_rate and avg_frame_rate, e.g. "30000/1001". */
  rFrameRate: string;
  avgFrameRate: string;
  /** True when r_frame_rate and avg_frame_rate disagree noticeably (variable frame rate). */
  vfr: boolean;
  /** From the stream header when known (nb_frames), else undefined. */
  frameCount?: number;
  /** field_order is tt/bb/tb/bt. */
  interlaced: boolean;
  fieldOrder?: string;
  pixFmt?: string;
  /** Bit depth of the source pixel format (8, 10, 12). */
  bitDepth: number;
  colorRange?: string;
  colorSpace?: string;
  colorTransfer?: string;
  colorPrimaries?: string;
  /** Seconds. */
  startTime: number;
  /** An attached picture (cover art), not real video. */
  attachedPic: boolean;
}

export interface AudioStreamInfo {
  index: number;
  codec: string;
  channels: number;
  channelLayout?: string;
  sampleRate: number;
  startTime: number;
}

export interface ProbeInfo {
  /** ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  format: string;
  /** Seconds; 0 when unknown (e.g. a single image). */
  duration: number;
  sizeBytes: number;
  /** bits/s of the whole file when known. */
  bitRate?: number;
  /** The main video stream (not cover art), if any. */
  video?: VideoStreamInfo;
  /** The main audio stream, if any. */
  audio?: AudioStreamInfo;
}
