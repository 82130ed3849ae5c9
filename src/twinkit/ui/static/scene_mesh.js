// A triangle mesh for the twinkit 3D scene: flat positions (x, y, z per vertex), triangle
// indices and, optionally, 8-bit RGB colours per vertex (shown once the material is set with
// no colour). Used for pipes between parts and for surface fields (a bracket's stress).
import { THREE } from "nicegui-scene";

export default class SceneMesh {
  mesh;

  create_mesh(positions, indices, colors) {
    const material = new THREE.MeshPhongMaterial({ transparent: true, side: THREE.DoubleSide });
    this.mesh = new THREE.Mesh(new THREE.BufferGeometry(), material);
    this.set_mesh(positions, indices, colors);
    return this.mesh;
  }

  set_mesh(positions, indices, colors) {
    const geometry = this.mesh.geometry;
    geometry.setAttribute("position", new THREE.Float32BufferAttribute(positions, 3));
    geometry.setIndex(indices);
    geometry.computeVertexNormals();
    geometry.computeBoundingSphere();
    this.set_colors(colors);
  }

  set_colors(colors) {
    const geometry = this.mesh.geometry;
    if (colors === null || colors === undefined) {
      geometry.deleteAttribute("color");
      return;
    }
    const rgb = new Float32Array(colors.length);
    for (let i = 0; i < colors.length; i++) rgb[i] = colors[i] / 255;
    geometry.setAttribute("color", new THREE.BufferAttribute(rgb, 3));
  }
}
