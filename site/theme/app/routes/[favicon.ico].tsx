// No icon: an empty one, so that neither the static build nor the browser asks in vain.
export const loader = () => new Response(null, { status: 204, headers: { 'Content-Type': 'image/x-icon' } });
