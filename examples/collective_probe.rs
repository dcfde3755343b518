//! Probe: each process (started with SSL3D_RANK etc.) sums a small tensor with the others.
use burn::backend::Flex;
use burn::tensor::Tensor;
use ssl3d::distributed::{DataParallel, World};

fn main() {
    let world = World::from_env().unwrap().expect("run under SSL3D_RANK");
    let rank = world.rank;
    let device = Default::default();
    let dp = DataParallel::join::<Flex>(world, "probe", &device).unwrap();
    eprintln!("rank {rank} joined");
    for shape in [[8usize, 4], [4, 32768], [1, 3], [8, 4], [4, 32768]] {
        let t = Tensor::<Flex, 2>::ones(shape, &device).mul_scalar(rank as f64 + 1.0);
        let s = dp.sum(t).unwrap();
        eprintln!("rank {rank} {shape:?} sum {:?}", s.sum().into_scalar());
    }
    dp.finish();
}
