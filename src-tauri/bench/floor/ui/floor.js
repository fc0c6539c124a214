// The frame after the page's content is on screen (two frames: the first one paints it), as
// the app marks `latchkey:painted`.
requestAnimationFrame(() => requestAnimationFrame(() => performance.mark('floor:painted')));
